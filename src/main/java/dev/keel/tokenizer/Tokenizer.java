package dev.keel.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * A model's tokenizer: its {@code tokenizer.json} run by Hugging Face's Rust tokenizers (through DJL), with
 * padding and truncation off (Keel pads and truncates ids itself), plus the special tokens named in
 * {@code tokenizer_config.json}. Works offline: nothing is fetched from a hub.
 */
public final class Tokenizer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer hf;
    private final Map<String, Long> specialIds;
    private final JsonNode tokenizerConfig;
    private final Long bosId;
    private final Long eosId;
    private final Long padId;
    private final String fingerprint;

    private Tokenizer(HuggingFaceTokenizer hf, Map<String, Long> specialIds, JsonNode tokenizerConfig,
                      Long bosId, Long eosId, Long padId, String fingerprint) {
        this.fingerprint = fingerprint;
        this.hf = hf;
        this.specialIds = specialIds;
        this.tokenizerConfig = tokenizerConfig;
        this.bosId = bosId;
        this.eosId = eosId;
        this.padId = padId;
    }

    /**
     * Loads the tokenizer of a model directory: {@code tokenizer.json} (required), {@code tokenizer_config.json}
     * (optional: special tokens, chat template) and {@code config.json} (fallback special token ids).
     */
    public static Tokenizer load(Path modelDir) {
        Path file = SafeFiles.inside(modelDir, "tokenizer.json", "the tokenizer");
        if (!Files.exists(file)) {
            throw new KeelException(modelDir + ": no tokenizer.json (Keel needs a fast tokenizer file; "
                    + "save one with transformers' tokenizer.save_pretrained)");
        }
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        JsonNode tokJson = readJson(file);
        Map<String, Long> ids = new HashMap<>();
        JsonNode vocab = tokJson.path("model").path("vocab");
        if (vocab.isObject()) {
            vocab.fields().forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asLong()));
        }
        for (JsonNode t : tokJson.path("added_tokens")) {
            ids.put(t.path("content").asText(), t.path("id").asLong());
        }
        Path cfgFile = SafeFiles.inside(modelDir, "tokenizer_config.json", "the tokenizer's configuration");
        JsonNode cfg = Files.exists(cfgFile) ? readJson(cfgFile) : JSON.createObjectNode();
        Path modelCfgFile = SafeFiles.inside(modelDir, "config.json", "the model's configuration");
        JsonNode modelCfg = Files.exists(modelCfgFile) ? readJson(modelCfgFile) : JSON.createObjectNode();
        checkVocabulary(file, ids, modelCfg);
        Long bos = special(cfg, "bos_token", ids, modelCfg.get("bos_token_id"));
        Long eos = special(cfg, "eos_token", ids, firstId(modelCfg.get("eos_token_id")));
        Long pad = special(cfg, "pad_token", ids, modelCfg.get("pad_token_id"));
        try {
            HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(true)
                    .optPadding(false)
                    .optTruncation(false)
                    .build();
            return new Tokenizer(hf, ids, cfg, bos, eos, pad, fingerprint(file, bos, eos, pad));
        } catch (IOException | RuntimeException e) {
            throw new KeelException(file + ": cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * SHA-256 of {@code tokenizer.json} and the BOS, EOS and pad ids: two tokenizers with the same fingerprint
     * turn text into the same ids, so a model trained with one reads the ids of the other as they are.
     */
    public String fingerprint() {
        return fingerprint;
    }

    private static String fingerprint(Path file, Long bos, Long eos, Long pad) {
        try {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            md.update(Files.readAllBytes(file));
            md.update((bos + "/" + eos + "/" + pad).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw new KeelException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static JsonNode firstId(JsonNode n) {
        return n != null && n.isArray() && n.size() > 0 ? n.get(0) : n;
    }

    /** A special token of tokenizer_config.json (a string or an AddedToken object), else config.json's id. */
    private static Long special(JsonNode cfg, String field, Map<String, Long> ids, JsonNode fallbackId) {
        JsonNode v = cfg.get(field);
        String content = v == null || v.isNull() ? null : v.isObject() ? v.path("content").asText(null) : v.asText();
        if (content != null && ids.containsKey(content)) {
            return ids.get(content);
        }
        return fallbackId == null || fallbackId.isNull() ? null : fallbackId.asLong();
    }

    private static JsonNode readJson(Path f) {
        JsonNode n = SafeFiles.readJson(f, "a tokenizer file");
        if (n == null || !n.isObject()) {
            throw new KeelException(f + ": not a JSON object");
        }
        return n;
    }

    /**
     * Refuses a tokenizer that can produce ids the model has no embedding for (config.json's vocab_size), by the
     * first such token, before any text is encoded: otherwise the first such id fails deep in libtorch.
     */
    private static void checkVocabulary(Path file, Map<String, Long> ids, JsonNode modelCfg) {
        JsonNode v = modelCfg.get("vocab_size");
        if (v == null || !v.canConvertToLong()) {
            return;
        }
        long vocab = v.asLong();
        for (Map.Entry<String, Long> e : ids.entrySet()) {
            if (e.getValue() < 0 || e.getValue() >= vocab) {
                throw new KeelException(file + ": token id " + e.getValue() + " is outside the model's vocabulary "
                        + "(vocab_size " + vocab + " in config.json); the tokenizer does not belong to this model");
            }
        }
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} applies the tokenizer's post-processor (e.g. BOS). */
    public long[] encode(String text, boolean addSpecialTokens) {
        return hf.encode(text, addSpecialTokens, false).getIds();
    }

    /** Text of {@code ids}, optionally without special tokens. */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        return hf.decode(ids, skipSpecialTokens);
    }

    /** The id of a token string (vocabulary or added token), or null. */
    public Long tokenId(String token) {
        return specialIds.get(token);
    }

    public Long bosId() {
        return bosId;
    }

    public Long eosId() {
        return eosId;
    }

    /** The pad id: pad_token, else EOS (as TRL sets it when a tokenizer has none). */
    public Long padId() {
        return padId != null ? padId : eosId;
    }

    /** tokenizer_config.json as read (empty object when absent). */
    public JsonNode config() {
        return tokenizerConfig;
    }

    @Override
    public void close() {
        hf.close();
    }
}
