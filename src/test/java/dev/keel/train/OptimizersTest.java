package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class OptimizersTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void noWeightDecayOnBiasesNormsAndEmbeddingsOnly() {
        Tensor matrix = Tensors.floats(new float[4], 2, 2);
        Tensor vector = Tensors.floats(new float[2], 2);
        assertTrue(Optimizers.noDecay("model.layers.0.input_layernorm.weight", vector));
        assertTrue(Optimizers.noDecay("transformer.h.0.attn.c_attn.bias", vector));
        assertTrue(Optimizers.noDecay("model.embed_tokens.weight", matrix));
        assertTrue(Optimizers.noDecay("value.transformer.wte.weight", matrix));
        assertTrue(Optimizers.noDecay("transformer.wpe.weight", matrix));
        assertFalse(Optimizers.noDecay("model.layers.0.self_attn.q_proj.weight", matrix));
        assertFalse(Optimizers.noDecay("lm_head.weight", matrix));
        assertFalse(Optimizers.noDecay("policy.transformer.h.0.mlp.c_fc.weight", matrix));
    }
}
