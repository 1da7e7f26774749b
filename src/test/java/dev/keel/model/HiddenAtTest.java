package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.tensor.Tensors;

/**
 * {@link CausalLM#hiddenAt}: the hidden states at chosen columns are {@link CausalLM#hidden}'s at those columns, for
 * the Llama family's own last block (grouped-query attention, Qwen2's q/k/v biases, Mistral's sliding window, LoRA,
 * bfloat16, one layer) and GPT-2's gather of every column; with padding on either side, a null mask, and gradients.
 */
class HiddenAtTest {
    @BeforeAll
    static void init() {
        TestSupport.init();
    }

    private static final long[][] IDS = {{5, 9, 2, 7, 7, 3, 11, 4}, {8, 1, 6, 6, 2, 9, 3, 12}, {4, 4, 10, 2, 5, 1, 7, 6}};
    /** Row 0 unpadded, row 1 left-padded by 2, row 2 right-padded by 3. */
    private static final long[][] KEEP = {{1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0, 0}};
    /** Columns read per row: the last real one, and the span a response's log-probs read. */
    private static final long[][] AT = {{7, 2, 5}, {7, 3, 6}, {4, 1, 2}};

    private static ModelConfig llamaLike(String type, int kvHeads, int layers, int window, boolean bias) {
        ObjectNode c = ConfigFactory.llama(16, 32, layers, 4, kvHeads, 48, 64, 10000, true, 0, 0).toJson(DType.F32);
        c.put("model_type", type);
        if (bias) {
            c.put("attention_bias", true);
        }
        if (window > 0) {
            c.put("sliding_window", window);
        }
        return ModelConfig.fromJson(c);
    }

    private static List<CausalLM> models() {
        List<CausalLM> ms = new ArrayList<>();
        ms.add(ModelInit.random(llamaLike("llama", 2, 2, 0, false), 1, null));
        ms.add(ModelInit.random(llamaLike("qwen2", 4, 3, 0, true), 2, null));
        ms.add(ModelInit.random(llamaLike("mistral", 2, 2, 3, false), 3, null));
        ms.add(ModelInit.random(llamaLike("llama", 4, 1, 0, false), 4, null));
        ms.add(ModelInit.random(ConfigFactory.gpt2(16, 32, 2, 4, 64, 0, 0), 5, null));
        CausalLM lora = ModelInit.random(llamaLike("llama", 2, 2, 0, false), 6, null);
        lora.addLora(new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false));
        torch.manual_seed(7);
        dev.keel.TinyModels.randomiseLoraB(lora, 0.3);
        ms.add(lora);
        return ms;
    }

    private static float[] whole(CausalLM m, Tensor ids, Tensor keep, Tensor mask, Tensor at) {
        return Tensors.toFloats(CausalLM.columns(m.hidden(ids, AttentionMask.positionIds(keep), mask, null), at));
    }

    @Test
    void theColumnsHiddenGives() {
        Tensor ids = Tensors.longs(IDS, null);
        Tensor keep = Tensors.longs(KEEP, null);
        Tensor at = Tensors.longs(AT, null);
        try (NoGradGuard ng = new NoGradGuard()) {
            for (CausalLM m : models()) {
                String what = m.config().modelType() + " " + m.config().numLayers() + " layers"
                        + (m.adaptersActive() ? " LoRA" : "") + " window " + m.config().slidingWindow();
                Tensor mask = AttentionMask.causal(keep, IDS[0].length, m.config().slidingWindow());
                Tensor pos = AttentionMask.positionIds(keep);
                Tensor got = m.hiddenAt(ids, pos, mask, at);
                assertArrayEquals(new long[] {3, 3, 32}, got.sizes().vec().get(), what);
                assertArrayEquals(whole(m, ids, keep, mask, at), Tensors.toFloats(got), 1e-5f, what);
                if (m.config().slidingWindow() == 0) { // unpadded rows: the null mask is plain causal
                    Tensor full = Tensors.longs(new long[][] {IDS[0], IDS[1]}, null);
                    Tensor ones = torch.ones_like(full);
                    Tensor at2 = at.narrow(0, 0, 2);
                    assertArrayEquals(whole(m, full, ones, null, at2),
                            Tensors.toFloats(m.hiddenAt(full, AttentionMask.positionIds(ones), null, at2)), 1e-5f, what + " null mask");
                }
            }
            CausalLM m = models().get(0);
            try (Compute bf16 = Compute.use(true, false)) {
                Tensor mask = AttentionMask.causal(keep, IDS[0].length, 0);
                assertArrayEquals(whole(m, ids, keep, mask, at),
                        Tensors.toFloats(m.hiddenAt(ids, AttentionMask.positionIds(keep), mask, at)), 2e-2f, "bf16");
            }
            assertThrows(IllegalArgumentException.class, () -> m.hiddenAt(ids, AttentionMask.positionIds(keep), null,
                    at.narrow(0, 0, 2)), "columns for 2 rows of 3");
        }
    }

    /**
     * A loss through hiddenAt has the gradients of the same loss through hidden, for every weight, with the blocks
     * below the last checkpointed or not.
     */
    @Test
    void theGradientsHiddenGives() {
        Tensor ids = Tensors.longs(IDS, null);
        Tensor keep = Tensors.longs(KEEP, null);
        Tensor at = Tensors.longs(AT, null);
        List<CausalLM> ms = models();
        for (CausalLM m : List.of(ms.get(0), ms.get(1), ms.get(3))) {
            m.trainable().values().forEach(t -> t.set_requires_grad(true));
            Tensor mask = AttentionMask.causal(keep, IDS[0].length, 0);
            Tensor pos = AttentionMask.positionIds(keep);
            for (boolean checkpointing : new boolean[] {false, true}) {
                String what = m.config().modelType() + " " + m.config().numLayers() + " layers"
                        + (checkpointing ? " checkpointed" : "");
                Map<String, float[]> viaWhole = grads(m, checkpointing, () -> CausalLM.columns(m.hidden(ids, pos, mask, null), at));
                Map<String, float[]> viaAt = grads(m, checkpointing, () -> m.hiddenAt(ids, pos, mask, at));
                assertEquals(viaWhole.keySet(), viaAt.keySet());
                for (String k : viaWhole.keySet()) {
                    float[] a = viaWhole.get(k);
                    float[] b = viaAt.get(k);
                    double scale = 1;
                    for (float x : a) {
                        scale = Math.max(scale, Math.abs(x));
                    }
                    for (int i = 0; i < a.length; i++) { // to float rounding, relative to the gradient's largest entry
                        assertEquals(a[i], b[i], 1e-5 * scale, what + " " + k + "[" + i + "]");
                    }
                }
            }
        }
    }

    private static Map<String, float[]> grads(CausalLM m, boolean checkpointing, java.util.function.Supplier<Tensor> hidden) {
        Map<String, float[]> g = new java.util.TreeMap<>();
        try (Compute c = Compute.use(false, checkpointing); BackwardPass pass = BackwardPass.open()) {
            Tensor h = hidden.get();
            pass.backward(h.mul(h).sum().add(h.sum()));
        }
        m.trainable().forEach((k, t) -> {
            g.put(k, Tensors.toFloats(t.grad().flatten()));
            t.grad().zero_();
        });
        return g;
    }
}
