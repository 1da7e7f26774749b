package dev.keel.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a byte-level BPE vocabulary (Sennrich et al. 2016; GPT-2's byte-level variant, Radford et al. 2019):
 * text is split with GPT-2's pre-tokenizer pattern, each piece is mapped to bytes shown as GPT-2's printable
 * byte characters, and the most frequent adjacent pair is merged until the vocabulary is full. The result is
 * written by {@link BpeTokenizerJson} and read back by Hugging Face tokenizers, so training and use agree.
 */
public final class BpeTrainer {
    /** GPT-2's pre-tokenizer split, as the ByteLevel pre-tokenizer applies it (use_regex = true). */
    public static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private BpeTrainer() {}

    /** The vocabulary (token to id) and merges in rank order. */
    public record Result(Map<String, Integer> vocab, List<String> merges) {}

    /** GPT-2's bytes_to_unicode: printable characters for every byte, so tokens are readable strings. */
    public static String[] byteToUnicode() {
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) {
            bs.add(b);
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            bs.add(b);
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            bs.add(b);
        }
        String[] map = new String[256];
        Set<Integer> present = new HashSet<>(bs);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (present.contains(b)) {
                map[b] = new String(Character.toChars(b));
            } else {
                map[b] = new String(Character.toChars(256 + n));
                n++;
            }
        }
        return map;
    }

    /**
     * Learns merges until {@code vocabSize} tokens: the special tokens (ids 0..), the 256 byte tokens, then
     * one token per merge. Ties between equally frequent pairs go to the pair of lower ids, so training is
     * deterministic.
     */
    public static Result train(Iterable<String> texts, int vocabSize, List<String> specialTokens) {
        if (vocabSize < specialTokens.size() + 256) {
            throw new IllegalArgumentException("vocabulary size " + vocabSize + " is below the "
                    + (specialTokens.size() + 256) + " special and byte tokens");
        }
        String[] b2u = byteToUnicode();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> tokens = new ArrayList<>();
        for (String s : specialTokens) {
            vocab.put(s, tokens.size());
            tokens.add(s);
        }
        int[] byteId = new int[256];
        for (int b = 0; b < 256; b++) {
            byteId[b] = tokens.size();
            vocab.put(b2u[b], tokens.size());
            tokens.add(b2u[b]);
        }
        // word (as byte ids) -> count
        Map<String, Integer> wordCounts = new HashMap<>();
        for (String text : texts) {
            Matcher m = GPT2_SPLIT.matcher(text);
            while (m.find()) {
                wordCounts.merge(m.group(), 1, Integer::sum);
            }
        }
        List<int[]> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : wordCounts.entrySet()) {
            byte[] bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] w = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                w[i] = byteId[bytes[i] & 0xFF];
            }
            words.add(w);
            counts.add(e.getValue());
        }
        Map<Long, Long> pairCount = new HashMap<>();
        Map<Long, Set<Integer>> pairWords = new HashMap<>();
        for (int wi = 0; wi < words.size(); wi++) {
            addPairs(words.get(wi), counts.get(wi), wi, pairCount, pairWords);
        }
        List<String> merges = new ArrayList<>();
        while (tokens.size() < vocabSize) {
            long best = -1;
            long bestCount = 0;
            for (Map.Entry<Long, Long> e : pairCount.entrySet()) {
                long c = e.getValue();
                if (c > bestCount || (c == bestCount && c > 0 && e.getKey() < best)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (bestCount < 2) {
                break; // nothing left worth merging
            }
            int a = (int) (best >>> 32);
            int b = (int) best;
            int merged = tokens.size();
            String tok = tokens.get(a) + tokens.get(b);
            tokens.add(tok);
            vocab.put(tok, merged);
            merges.add(tokens.get(a) + " " + tokens.get(b));
            for (int wi : new ArrayList<>(pairWords.getOrDefault(best, Set.of()))) {
                int[] w = words.get(wi);
                int c = counts.get(wi);
                removePairs(w, c, pairCount);
                int[] nw = merge(w, a, b, merged);
                words.set(wi, nw);
                addPairs(nw, c, wi, pairCount, pairWords);
            }
            pairCount.remove(best);
            pairWords.remove(best);
        }
        return new Result(vocab, merges);
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static void addPairs(int[] w, int c, int wi, Map<Long, Long> pc, Map<Long, Set<Integer>> pw) {
        for (int i = 0; i + 1 < w.length; i++) {
            long k = key(w[i], w[i + 1]);
            pc.merge(k, (long) c, Long::sum);
            pw.computeIfAbsent(k, x -> new HashSet<>()).add(wi);
        }
    }

    private static void removePairs(int[] w, int c, Map<Long, Long> pc) {
        for (int i = 0; i + 1 < w.length; i++) {
            long k = key(w[i], w[i + 1]);
            long left = pc.getOrDefault(k, 0L) - c;
            if (left <= 0) {
                pc.remove(k);
            } else {
                pc.put(k, left);
            }
        }
    }

    private static int[] merge(int[] w, int a, int b, int merged) {
        int[] out = new int[w.length];
        int n = 0;
        for (int i = 0; i < w.length; i++) {
            if (i + 1 < w.length && w[i] == a && w[i + 1] == b) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = w[i];
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }
}
