package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.keel.TestSupport;
import dev.keel.data.LmExample;
import dev.keel.data.PreferencePair;
import dev.keel.model.io.ConfigFactory;
import dev.keel.tensor.Tensors;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.LmTask;
import dev.keel.train.ReferenceLogps;

/**
 * Gradient checkpointing ({@link Blocks}, {@link BackwardPass}) gives every parameter the gradient of the plain
 * backward, for both families, an SFT and a DPO loss, in float32 and under bf16 autocast; and the checkpointed
 * forward keeps no graph through the blocks.
 */
class CheckpointingTest {
    private static final int VOCAB = 97;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static CausalLM model(String family) {
        return ModelInit.random(family.equals("gpt2")
                ? ConfigFactory.gpt2(VOCAB, 32, 3, 4, 64, 0, 0)
                : ConfigFactory.llama(VOCAB, 32, 3, 4, 2, 64, 64, 10000, false, 0, 0), 11, null);
    }

    /** Rows of different lengths, so the batch is padded and the mask matters. */
    static List<LmExample> sftBatch() {
        Random r = new Random(3);
        List<LmExample> out = new ArrayList<>();
        for (int len : new int[] {20, 13, 17}) {
            long[] ids = random(r, len);
            long[] mask = new long[len];
            java.util.Arrays.fill(mask, len / 3, len, 1);
            out.add(new LmExample(0, ids, mask));
        }
        return out;
    }

    static List<PreferencePair> pairs() {
        Random r = new Random(4);
        List<PreferencePair> out = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            out.add(new PreferencePair(i, random(r, 7 + i), random(r, 9), random(r, 5 + 3 * i), 0));
        }
        return out;
    }

    static Tensor loss(String loss, CausalLM m) {
        if (loss.equals("sft")) {
            return new LmTask(m, 0).forward(sftBatch()).lossSum();
        }
        List<PreferencePair> p = pairs();
        return new DpoTask(m, 0, DpoConfig.defaults(), ReferenceLogps.of(p, new double[] {-30, -31}, new double[] {-29, -33}))
                .forward(p).lossSum();
    }

    /** Every parameter's gradient after one backward of {@code loss} in the given compute scope. */
    static Map<String, float[]> grads(CausalLM m, String loss, boolean bf16, boolean checkpointing) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope(); Compute c = Compute.use(bf16, checkpointing);
             BackwardPass pass = BackwardPass.open()) {
            m.parameters().forEach(p -> {
                p.set_requires_grad(true);
                p.mutable_grad().reset();
            });
            pass.backward(loss(loss, m));
            m.weights().forEach((name, p) -> {
                assertTrue(p.grad().defined(), name + " has no gradient");
                assertEquals(org.bytedeco.pytorch.global.torch.ScalarType.Float, p.grad().scalar_type().intern(), name);
                out.put(name, Tensors.toFloats(p.grad()));
            });
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"gpt2,sft,false", "gpt2,dpo,false", "llama,sft,false", "llama,dpo,false", "gpt2,dpo,true", "llama,sft,true"})
    void checkpointedGradientsEqualThePlainBackward(String family, String loss, boolean bf16) {
        CausalLM m = model(family);
        Map<String, float[]> plain = grads(m, loss, bf16, false);
        Map<String, float[]> ckpt = grads(m, loss, bf16, true);
        double largest = 0;
        for (Map.Entry<String, float[]> e : plain.entrySet()) {
            float[] a = e.getValue();
            float[] b = ckpt.get(e.getKey());
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-5, e.getKey() + "[" + i + "]");
                largest = Math.max(largest, Math.abs(a[i]));
            }
        }
        assertTrue(largest > 1e-3, "the gradients are not all ~0 (largest " + largest + ")");
    }

    @Test
    void theCheckpointedForwardKeepsNoGraphThroughTheBlocks() {
        CausalLM m = model("llama");
        try (PointerScope scope = new PointerScope(); Compute c = Compute.use(false, true);
             BackwardPass pass = BackwardPass.open()) {
            m.parameters().forEach(p -> {
                p.set_requires_grad(true);
                p.mutable_grad().reset();
            });
            Tensor l = loss("sft", m);
            assertEquals(1, pass.pendingForwards());
            l.backward();                                   // the loss's own backward, without the recomputation
            assertTrue(m.weights().get("model.norm.weight").grad().defined(), "the final norm is in the graph");
            assertTrue(m.weights().get("lm_head.weight").grad().defined(), "the head is in the graph");
            m.weights().forEach((name, p) -> {
                if (name.contains(".layers.") || name.contains("embed_tokens")) {
                    assertFalse(p.grad().defined(), name + " was reached: the forward kept its graph");
                }
            });
        }
    }

    @Test
    void withoutAnOpenPassOrWithoutGradientsForwardsArePlain() {
        CausalLM m = model("gpt2");
        try (PointerScope scope = new PointerScope(); Compute c = Compute.use(false, true)) {
            m.parameters().forEach(p -> p.set_requires_grad(true));
            Tensor l = loss("sft", m);
            l.backward();
            assertTrue(m.weights().get("transformer.h.0.attn.c_attn.weight").grad().defined());
            try (BackwardPass pass = BackwardPass.open();
                 org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
                loss("sft", m);
                assertEquals(0, pass.pendingForwards(), "a forward without gradients is not checkpointed");
            }
        }
    }

    private static long[] random(Random r, int n) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) {
            a[i] = 1 + r.nextInt(VOCAB - 1);
        }
        return a;
    }
}
