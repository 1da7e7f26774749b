package dev.keel.eval;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.KeelException;
import dev.keel.tokenizer.Tokenizer;

/** The sentiment experiment's text: the review sentences shipped with Keel, and prompts cut from them. */
public final class SentimentData {
    private SentimentData() {}

    /** The review sentences shipped with Keel (IMDb, Yelp, Amazon in that order), stripped, without repeats. */
    public static List<String> reviewSentences() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        for (String f : List.of("imdb", "yelp", "amazon")) {
            try (InputStream in = SentimentData.class.getResourceAsStream("/dev/keel/data/sentiment-sentences/" + f + ".json")) {
                if (in == null) {
                    throw new KeelException("the review sentences are missing from the Keel build (" + f + ".json)");
                }
                for (JsonNode n : json.readTree(in)) {
                    String t = n.path("text").asText("").strip();
                    if (!t.isEmpty()) {
                        out.add(t);
                    }
                }
            }
        }
        return new ArrayList<>(new LinkedHashSet<>(out));
    }

    /** A 2-8 token prefix of {@code sentence} (after BOS) as a prompt: ids and text; nothing for a short sentence. */
    static void addPrefix(Tokenizer tok, String sentence, Random r, List<long[]> ids, List<String> texts) {
        long[] all = tok.encode(sentence, true);
        int bos = tok.bosId() != null && all.length > 0 && all[0] == tok.bosId() ? 1 : 0;
        int content = all.length - bos;
        if (content < 3) {
            return;
        }
        int n = Math.min(2 + r.nextInt(7), content - 1);
        long[] p = java.util.Arrays.copyOf(all, bos + n);
        ids.add(p);
        texts.add(tok.decode(java.util.Arrays.copyOfRange(p, bos, p.length), true));
    }
}
