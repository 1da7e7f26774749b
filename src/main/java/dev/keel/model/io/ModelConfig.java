package dev.keel.model.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;

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
    }

    private static void check(boolean ok, String where, String field, Object value) {
        if (!ok) {
            throw new KeelException(where + ": invalid " + field + ": " + value);
        }
    }

    /** Reads {@code dir/config.json}. */
    public static ModelConfig load(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(configJson));
        } catch (IOException e) {
            throw new KeelException(configJson + ": cannot read or parse: " + e.getMessage(), e);
        }
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
        int ff = inner == null || inner.isNull() ? 4 * d : inner.asInt();
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
                d / heads, ff, req(c, "n_positions"), c.path("layer_norm_epsilon").asDouble(1e-5), 0, null,
                c.path("tie_word_embeddings").asBoolean(true), true, true, true, 0, act,
                intOrNull(c, "bos_token_id"), ids(c.get("eos_token_id")), intOrNull(c, "pad_token_id"),
                dtype(c), c);
    }

    private static ModelConfig llama(ObjectNode c, String type) {
        int d = req(c, "hidden_size");
        int heads = req(c, "num_attention_heads");
        JsonNode kv = c.get("num_key_value_heads");
        int kvHeads = kv == null || kv.isNull() ? heads : kv.asInt();
        JsonNode hd = c.get("head_dim");
        int headDim = hd == null || hd.isNull() ? d / heads : hd.asInt();
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
            window = sw.asInt();
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
                c.path("rms_norm_eps").asDouble(1e-6), c.path("rope_theta").asDouble(10000.0),
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
                case "llama3":
                    return new RopeScaling(type, reqD(n, "factor"), reqD(n, "low_freq_factor"),
                            reqD(n, "high_freq_factor"), req(n, "original_max_position_embeddings"));
                default:
                    throw new KeelException("unsupported rope_scaling type '" + type
                            + "' (Keel supports default, linear, llama3)");
            }
        }
    }

    private static int req(JsonNode c, String field) {
        JsonNode v = c.get(field);
        if (v == null || v.isNull() || !v.isNumber()) {
            throw new KeelException("missing or non-numeric field '" + field + "'");
        }
        return v.asInt();
    }

    private static double reqD(JsonNode c, String field) {
        JsonNode v = c.get(field);
        if (v == null || !v.isNumber()) {
            throw new KeelException("missing or non-numeric field '" + field + "' in rope_scaling");
        }
        return v.asDouble();
    }

    private static String text(JsonNode c, String field, String dflt) {
        JsonNode v = c.get(field);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static Integer intOrNull(JsonNode c, String field) {
        JsonNode v = c.get(field);
        return v == null || v.isNull() ? null : v.asInt();
    }

    private static List<Integer> ids(JsonNode v) {
        List<Integer> out = new ArrayList<>();
        if (v == null || v.isNull()) {
            return out;
        }
        if (v.isArray()) {
            v.forEach(x -> out.add(x.asInt()));
        } else {
            out.add(v.asInt());
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
