package dev.keel.model.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * config.json objects for new models, written with transformers' own field names so that the result loads
 * in transformers as it is, and parsed back through {@link ModelConfig#fromJson} (the one mapping).
 */
public final class ConfigFactory {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ConfigFactory() {}

    /** A GPT-2 ({@code GPT2LMHeadModel}) config. */
    public static ModelConfig gpt2(int vocab, int dim, int layers, int heads, int positions, int bos, int eos) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("GPT2LMHeadModel");
        c.put("model_type", "gpt2");
        c.put("vocab_size", vocab);
        c.put("n_embd", dim);
        c.put("n_layer", layers);
        c.put("n_head", heads);
        c.put("n_positions", positions);
        c.put("n_ctx", positions);
        c.putNull("n_inner");
        c.put("activation_function", "gelu_new");
        c.put("layer_norm_epsilon", 1e-5);
        c.put("initializer_range", 0.02);
        c.put("resid_pdrop", 0.0);
        c.put("embd_pdrop", 0.0);
        c.put("attn_pdrop", 0.0);
        c.put("bos_token_id", bos);
        c.put("eos_token_id", eos);
        c.put("tie_word_embeddings", true);
        c.put("torch_dtype", "float32");
        return ModelConfig.fromJson(c);
    }

    /** A Llama ({@code LlamaForCausalLM}) config. */
    public static ModelConfig llama(int vocab, int dim, int layers, int heads, int kvHeads, int ff, int positions,
                                    double ropeTheta, boolean tied, int bos, int eos) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("vocab_size", vocab);
        c.put("hidden_size", dim);
        c.put("intermediate_size", ff);
        c.put("num_hidden_layers", layers);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        c.put("max_position_embeddings", positions);
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", ropeTheta);
        c.put("hidden_act", "silu");
        c.put("initializer_range", 0.02);
        c.put("attention_bias", false);
        c.put("mlp_bias", false);
        c.put("tie_word_embeddings", tied);
        c.put("bos_token_id", bos);
        c.put("eos_token_id", eos);
        c.put("torch_dtype", "float32");
        return ModelConfig.fromJson(c);
    }
}
