package dev.keel.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;

/**
 * Writes a byte-level BPE {@code tokenizer.json} in the layout Hugging Face's tokenizers library reads, the
 * layout of GPT-2's own: a ByteLevel pre-tokenizer (GPT-2's split regex, no prefix space), a BPE model with
 * the vocabulary and ranked merges, a ByteLevel decoder, and special tokens as added tokens.
 */
public final class BpeTokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private BpeTokenizerJson() {}

    /**
     * Builds the JSON from a vocabulary (byte-level token string to id), merges in rank order ("a b"), and
     * special tokens (which must be in the vocabulary).
     */
    public static ObjectNode build(Map<String, Integer> vocab, List<String> merges, List<String> specialTokens) {
        return build(vocab, merges, specialTokens, null);
    }

    /**
     * As {@link #build(Map, List, List)}; with a {@code bosToken}, encoding with special tokens puts it first
     * (a TemplateProcessing post-processor, as Llama tokenizers do).
     */
    public static ObjectNode build(Map<String, Integer> vocab, List<String> merges, List<String> specialTokens,
                                   String bosToken) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String s : specialTokens) {
            Integer id = vocab.get(s);
            if (id == null) {
                throw new IllegalArgumentException("special token " + s + " is not in the vocabulary");
            }
            added.addObject().put("id", id).put("content", s).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", true).put("special", true);
        }
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        if (bosToken == null) {
            root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", true)
                    .put("trim_offsets", false).put("use_regex", true);
        } else {
            ObjectNode pp = root.putObject("post_processor");
            pp.put("type", "TemplateProcessing");
            ArrayNode single = pp.putArray("single");
            single.addObject().putObject("SpecialToken").put("id", bosToken).put("type_id", 0);
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            ArrayNode pair = pp.putArray("pair");
            pair.addObject().putObject("SpecialToken").put("id", bosToken).put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            ObjectNode st = pp.putObject("special_tokens").putObject(bosToken);
            st.put("id", bosToken);
            st.putArray("ids").add(vocab.get(bosToken));
            st.putArray("tokens").add(bosToken);
        }
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true)
                .put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token");
        model.put("continuing_subword_prefix", "").put("end_of_word_suffix", "");
        model.put("fuse_unk", false).put("byte_fallback", false);
        ObjectNode v = model.putObject("vocab");
        vocab.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> v.put(e.getKey(), e.getValue()));
        ArrayNode m = model.putArray("merges");
        merges.forEach(m::add);
        return root;
    }

    /**
     * Builds GPT-2's tokenizer.json from OpenAI's original files: {@code encoder.json} (token to id) and
     * {@code vocab.bpe} (a version line, then one merge per line), with {@code <|endoftext|>} special.
     */
    public static ObjectNode fromGpt2Files(Path encoderJson, Path vocabBpe) {
        try {
            JsonNode enc = JSON.readTree(Files.readString(encoderJson, StandardCharsets.UTF_8));
            Map<String, Integer> vocab = new java.util.LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = enc.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                vocab.put(e.getKey(), e.getValue().asInt());
            }
            List<String> merges = new ArrayList<>();
            for (String line : Files.readAllLines(vocabBpe, StandardCharsets.UTF_8)) {
                if (line.startsWith("#version") || line.isBlank()) {
                    continue;
                }
                merges.add(line);
            }
            return build(vocab, merges, List.of("<|endoftext|>"));
        } catch (IOException e) {
            throw new KeelException("cannot read GPT-2 tokenizer files " + encoderJson + ", " + vocabBpe + ": "
                    + e.getMessage(), e);
        }
    }
}
