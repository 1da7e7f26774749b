package dev.keel.model;

/**
 * What sits on top of the decoder: next-token logits over the vocabulary ({@code ...ForCausalLM}, weight
 * {@code lm_head.weight} or tied to the input embedding), or one scalar per position for reward and value
 * models ({@code ...ForSequenceClassification} with {@code num_labels: 1}, weight {@code score.weight}).
 */
public enum Head {
    LM,
    SCORE;

    /** transformers' class name for {@code modelType} with this head. */
    public String architecture(String modelType) {
        String base = switch (modelType) {
            case "gpt2" -> "GPT2";
            case "llama" -> "Llama";
            case "qwen2" -> "Qwen2";
            case "mistral" -> "Mistral";
            default -> throw new IllegalArgumentException("unknown model_type " + modelType);
        };
        if (this == SCORE) {
            return base + "ForSequenceClassification";
        }
        return modelType.equals("gpt2") ? "GPT2LMHeadModel" : base + "ForCausalLM";
    }

    /** The head a config.json's {@code architectures} names (LM when absent). */
    public static Head of(com.fasterxml.jackson.databind.JsonNode config) {
        for (var a : config.path("architectures")) {
            if (a.asText().endsWith("ForSequenceClassification")) {
                return SCORE;
            }
        }
        return LM;
    }
}
