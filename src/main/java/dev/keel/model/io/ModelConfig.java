package dev.keel.model.io;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * A decoder's architecture, read from a Hugging Face {@code config.json}. This is the one place where
 * transformers' field names are mapped (GPT-2 says {@code n_embd}, Llama says {@code hidden_size}); everything
 * else in Keel reads this record. The original JSON is kept so that saving writes back every field Keel does
 * not use.
 *
 * @param family            which block structure: GPT-2 or the Llama family
 * @param modelType         transformers' {@code model_type} (gpt2, llama, qwen2, mistral)
 * @param headDim           per-head width ({@code head_dim} in config, else hidden / heads)
 * @param intermediateSize  MLP width (GPT-2 {@code n_inner}, default 4 x hidden)
 * @param attentionBias     bias on q, k, v projections (Qwen2 always; Llama {@code attention_bias})
 * @param outputBias        bias on the attention output projection (GPT-2 always; Llama {@code attention_bias})
 * @param mlpBias           bias on MLP projections (GPT-2 always; Llama {@code mlp_bias})
 * @param slidingWindow     attention window in tokens, 0 for none (Mistral v0.1, Qwen2 with use_sliding_window)
 */
public record ModelConfig(
        Family family,
        String modelType,
        int vocabSize,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        int maxPositions,
        double normEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        boolean outputBias,
        boolean mlpBias,
        int slidingWindow,
        String activation,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        Integer padTokenId,
        DType torchDtype,
        ObjectNode raw) {

    /** The block structures Keel implements. */
    public enum Family { GPT2, LLAMA }

    private static final ObjectMapper JSON = new ObjectMapper();

    public ModelConfig {
        String where = "config.json (model_type " + modelType + ")";
        check(vocabSize > 0, where, "vocab_size", vocabSize);
        check(hiddenSize > 0, where, "hidden_size", hiddenSize);
        check(numLayers > 0, where, "num_hidden_layers", numLayers);
        check(numHeads > 0, where, "num_attention_heads", numHeads);
        check(numKvHeads > 0 && numHeads % numKvHeads == 0, where,
                "num_key_value_heads (must divide num_attention_heads " + numHeads + ")", numKvHeads);
        check(headDim > 0 && headDim % 2 == 0, where, "head_dim (must be even)", headDim);
        check(intermediateSize > 0, where, "intermediate_size", intermediateSize);
        check(maxPositions > 0, where, "max_position_embeddings", maxPositions);
        check(normEps > 0 && Double.isFinite(normEps), where,
                (family == Family.GPT2 ? "layer_norm_epsilon" : "rms_norm_eps") + " (must be a finite number > 0)", normEps);
        check(family == Family.GPT2 || ropeTheta > 0 && Double.isFinite(ropeTheta), where,
                "rope_theta (must be a finite number > 0)", ropeTheta);
        check(slidingWindow >= 0, where, "sliding_window", slidingWindow);
        for (Integer id : eosTokenIds) {
            check(id >= 0 && id < vocabSize, where, "eos_token_id (must be within [0, vocab_size " + vocabSize + "))", id);
        }
        check(bosTokenId == null || bosTokenId >= 0 && bosTokenId < vocabSize, where,
                "bos_token_id (must be within [0, vocab_size " + vocabSize + "))", bosTokenId);
        check(padTokenId == null || padTokenId < vocabSize, where,
                "pad_token_id (must be below vocab_size " + vocabSize + ")", padTokenId);
        checkFits(where, family, vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize,
                maxPositions, tieWordEmbeddings);
    }

    /**
     * Refuses sizes whose weights could not be held in this machine's memory even in 16 bits, before anything
     * is allocated (a config with 10^8 layers would otherwise stall for minutes building tensors, then fail).
     * Counts the weight matrices (embeddings, attention, MLP, head) and the rotary tables; doubles never overflow.
     */
    private static void checkFits(String where, Family family, double vocab, double d, double layers, double heads,
                                  double kvHeads, double headDim, double ff, double positions, boolean tied) {
        double attention = d * heads * headDim * 2 + d * kvHeads * headDim * 2;
        double mlp = d * ff * (family == Family.GPT2 ? 2 : 3);
        double params = vocab * d * (tied ? 1 : 2) + layers * (attention + mlp + 4 * d)
                + (family == Family.GPT2 ? positions * d : positions * headDim);
        double bytes = params * 2;
        long memory = physicalMemory();
        if (bytes > memory) {
            throw new KeelException(where + ": invalid sizes: vocab_size " + (long) vocab + ", hidden size " + (long) d
                    + ", " + (long) layers + " layers, intermediate size " + (long) ff + " and " + (long) positions
                    + " positions imply " + String.format("%.3g", params) + " parameters, "
                    + String.format("%.3g", bytes / 1e9) + " GB even in 16 bits, more than this machine's "
                    + String.format("%.3g", memory / 1e9) + " GB of memory");
        }
    }

    /** This machine's physical memory in bytes (Long.MAX_VALUE where the JVM cannot tell). */
    static long physicalMemory() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            long total = sun.getTotalMemorySize();
            return total > 0 ? total : Long.MAX_VALUE;
        }
        return Long.MAX_VALUE;
    }

    private static void check(boolean ok, String where, String field, Object value) {
        if (!ok) {
            throw new KeelException(where + ": invalid " + field + ": " + value);
        }
    }

    /** Reads {@code dir/config.json}. */
    public static ModelConfig load(Path configJson) {
        JsonNode root = SafeFiles.readJson(configJson, "the model's configuration");
        if (root == null || !root.isObject()) {
            throw new KeelException(configJson + ": not a JSON object");
        }
        try {
            return fromJson((ObjectNode) root);
        } catch (KeelException e) {
            throw new KeelException(configJson + ": " + e.getMessage(), e);
        }
    }

    /** Maps transformers' names; an unknown {@code model_type} is an error that lists the supported ones. */
    public static ModelConfig fromJson(ObjectNode c) {
        String type = text(c, "model_type", null);
        if (type == null) {
            throw new KeelException("missing field 'model_type'");
        }
        switch (type) {
            case "gpt2":
                return gpt2(c);
            case "llama": case "qwen2": case "mistral":
                return llama(c, type);
            default:
                throw new KeelException("unsupported model_type '" + type
                        + "' (Keel supports gpt2, llama, qwen2, mistral)");
        }
    }

    private static ModelConfig gpt2(ObjectNode c) {
        int d = req(c, "n_embd");
        int heads = req(c, "n_head");
        JsonNode inner = c.get("n_inner");
        int ff = inner == null || inner.isNull() ? (int) Math.min(Integer.MAX_VALUE, 4L * d) : req(c, "n_inner");
        if (d % heads != 0) {
            throw new KeelException("invalid n_embd " + d + ": must be a multiple of n_head " + heads);
        }
        if (c.path("scale_attn_by_inverse_layer_idx").asBoolean(false)
                || c.path("reorder_and_upcast_attn").asBoolean(false)) {
            throw new KeelException("unsupported GPT-2 options: scale_attn_by_inverse_layer_idx and "
                    + "reorder_and_upcast_attn must be false");
        }
        if (!c.path("scale_attn_weights").asBoolean(true)) {
            throw new KeelException("unsupported GPT-2 option: scale_attn_weights must be true");
        }
        String act = text(c, "activation_function", "gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh") && !act.equals("gelu")) {
            throw new KeelException("unsupported activation_function '" + act + "' (gelu_new, gelu_pytorch_tanh, gelu)");
        }
        return new ModelConfig(Family.GPT2, "gpt2", req(c, "vocab_size"), d, req(c, "n_layer"), heads, heads,
                d / heads, ff, req(c, "n_positions"), num(c, "layer_norm_epsilon", 1e-5), 0, null,
                c.path("tie_word_embeddings").asBoolean(true), true, true, true, 0, act,
                intOrNull(c, "bos_token_id"), ids(c.get("eos_token_id")), intOrNull(c, "pad_token_id"),
                dtype(c), c);
    }

    private static ModelConfig llama(ObjectNode c, String type) {
        int d = req(c, "hidden_size");
        int heads = req(c, "num_attention_heads");
        JsonNode kv = c.get("num_key_value_heads");
        int kvHeads = kv == null || kv.isNull() ? heads : req(c, "num_key_value_heads");
        JsonNode hd = c.get("head_dim");
        if ((hd == null || hd.isNull()) && d % heads != 0) {
            throw new KeelException("invalid hidden_size " + d + ": must be a multiple of num_attention_heads " + heads
                    + " (or give head_dim)");
        }
        int headDim = hd == null || hd.isNull() ? d / heads : req(c, "head_dim");
        boolean qkvBias;
        boolean oBias;
        if (type.equals("qwen2")) {
            qkvBias = true;
            oBias = false;
        } else {
            qkvBias = c.path("attention_bias").asBoolean(false);
            oBias = qkvBias;
        }
        boolean mlpBias = c.path("mlp_bias").asBoolean(false);
        int window = 0;
        JsonNode sw = c.get("sliding_window");
        boolean windowOn = type.equals("mistral") || c.path("use_sliding_window").asBoolean(false);
        if (windowOn && sw != null && !sw.isNull()) {
            window = wholeNumber(c, "sliding_window", 0);
            if (type.equals("qwen2") && c.path("max_window_layers").asInt(0) < req(c, "num_hidden_layers")) {
                throw new KeelException("Qwen2 sliding-window attention on only some layers (max_window_layers) "
                        + "is not supported");
            }
        }
        String act = text(c, "hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new KeelException("unsupported hidden_act '" + act + "' (Keel supports silu)");
        }
        return new ModelConfig(Family.LLAMA, type, req(c, "vocab_size"), d, req(c, "num_hidden_layers"), heads,
                kvHeads, headDim, req(c, "intermediate_size"), req(c, "max_position_embeddings"),
                num(c, "rms_norm_eps", 1e-6), num(c, "rope_theta", 10000.0),
                RopeScaling.fromJson(c.get("rope_scaling")), c.path("tie_word_embeddings").asBoolean(false),
                qkvBias, oBias, mlpBias, window, act, intOrNull(c, "bos_token_id"), ids(c.get("eos_token_id")),
                intOrNull(c, "pad_token_id"), dtype(c), c);
    }

    /** Rotary embedding scaling ({@code rope_scaling}): default, linear or Llama 3. */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
        static RopeScaling fromJson(JsonNode n) {
            if (n == null || n.isNull()) {
                return null;
            }
            String type = n.has("rope_type") ? n.get("rope_type").asText() : n.path("type").asText("default");
            switch (type) {
                case "default":
                    return null;
                case "linear":
                    return new RopeScaling(type, reqD(n, "factor"), 0, 0, 0);
                case "llama3": {
                    RopeScaling r = new RopeScaling(type, reqD(n, "factor"), reqD(n, "low_freq_factor"),
                            reqD(n, "high_freq_factor"), req(n, "original_max_position_embeddings"));
                    if (!(r.highFreqFactor > r.lowFreqFactor)) {
                        throw new KeelException("invalid rope_scaling: high_freq_factor " + r.highFreqFactor
                                + " must be greater than low_freq_factor " + r.lowFreqFactor);
                    }
                    return r;
                }
                default:
                    throw new KeelException("unsupported rope_scaling type '" + type
                            + "' (Keel supports default, linear, llama3)");
            }
        }
    }

    /** A required size: a whole number within [1, 2^31 - 1]. */
    private static int req(JsonNode c, String field) {
        JsonNode v = c.get(field);
        if (v == null || v.isNull() || !v.isNumber()) {
            throw new KeelException("missing or non-numeric field '" + field + "'");
        }
        int n = wholeNumber(c, field, 0);
        if (n < 1) {
            throw new KeelException("invalid " + field + ": " + v + " (must be at least 1)");
        }
        return n;
    }

    /** An optional whole number that fits an int ({@code dflt} when absent). */
    private static int wholeNumber(JsonNode c, String field, int dflt) {
        JsonNode v = c.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        boolean whole = v.isIntegralNumber() || v.isNumber() && v.asDouble() == Math.rint(v.asDouble());
        if (!whole || !v.canConvertToInt() || v.isFloatingPointNumber() && Math.abs(v.asDouble()) > Integer.MAX_VALUE) {
            throw new KeelException("invalid " + field + ": " + v + " (must be a whole number within [-2^31, 2^31 - 1])");
        }
        return v.asInt();
    }

    /** An optional number ({@code dflt} when absent); a string or other value is an error. */
    private static double num(JsonNode c, String field, double dflt) {
        JsonNode v = c.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw new KeelException("invalid " + field + ": must be a number, got " + v.getNodeType().toString().toLowerCase());
        }
        return v.asDouble();
    }

    /** A required positive finite number of rope_scaling. */
    private static double reqD(JsonNode c, String field) {
        JsonNode v = c.get(field);
        if (v == null || !v.isNumber()) {
            throw new KeelException("missing or non-numeric field '" + field + "' in rope_scaling");
        }
        double x = v.asDouble();
        if (!(x > 0) || Double.isInfinite(x)) {
            throw new KeelException("invalid rope_scaling " + field + ": " + x + " (must be a finite number > 0)");
        }
        return x;
    }

    private static String text(JsonNode c, String field, String dflt) {
        JsonNode v = c.get(field);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static Integer intOrNull(JsonNode c, String field) {
        JsonNode v = c.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        int id = wholeNumber(c, field, 0);
        // some configs write -1 for "no such token"
        return field.equals("pad_token_id") && id < 0 ? null : id;
    }

    private static List<Integer> ids(JsonNode v) {
        List<Integer> out = new ArrayList<>();
        if (v == null || v.isNull()) {
            return out;
        }
        for (JsonNode x : v.isArray() ? v : List.of(v)) {
            if (!x.isIntegralNumber() || !x.canConvertToInt()) {
                throw new KeelException("invalid eos_token_id: " + x + " (must be a whole number or a list of them)");
            }
            out.add(x.asInt());
        }
        return out;
    }

    private static DType dtype(JsonNode c) {
        String s = text(c, "torch_dtype", text(c, "dtype", null));
        if (s == null) {
            return null;
        }
        try {
            return DType.parseFloat(s);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The JSON to save: the original fields, with {@code torch_dtype} set to the dtype being written. */
    public ObjectNode toJson(DType savedAs) {
        ObjectNode out = raw.deepCopy();
        if (savedAs != null) {
            out.put("torch_dtype", savedAs.torchName());
        }
        return out;
    }

    /** Number of query heads per key/value head (grouped-query attention). */
    public int kvGroups() {
        return numHeads / numKvHeads;
    }
}
