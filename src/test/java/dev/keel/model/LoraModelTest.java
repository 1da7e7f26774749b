package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.model.io.ConfigFactory;
import dev.keel.tensor.Tensors;

/** LoRA adapters in the decoders: B = 0 changes nothing, merging equals adding, switching off gives the base. */
class LoraModelTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static CausalLM llama() {
        return ModelInit.random(ConfigFactory.llama(50, 16, 2, 4, 2, 32, 32, 10000, true, 0, 1), 1, null);
    }

    static CausalLM gpt2() {
        return ModelInit.random(ConfigFactory.gpt2(50, 16, 2, 4, 32, 0, 1), 1, null);
    }

    static final LoraConfig ALL = new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false);

    static Tensor ids() {
        torch.manual_seed(9);
        return torch.randint(50, new long[] {2, 7}, Tensors.options(torch.ScalarType.Long, new org.bytedeco.pytorch.Device("cpu")));
    }

    static float[] logits(CausalLM m, Tensor ids) {
        try (NoGradGuard ng = new NoGradGuard()) {
            return Tensors.toFloats(m.forward(ids, torch.ones_like(ids)));
        }
    }

    /** Gives every B random values, so the adapters change the outputs. */
    static void randomiseB(CausalLM m) {
        torch.manual_seed(4);
        dev.keel.TinyModels.randomiseLoraB(m, 0.2);
    }

    @Test
    void freshAdaptersLeaveTheLogitsExactlyUnchanged() {
        for (CausalLM m : List.of(llama(), gpt2())) {
            Tensor ids = ids();
            float[] before = logits(m, ids);
            m.addLora(ALL);
            assertEquals(LoraAdapters.linearLayers(m).size(), m.adapters().pairs().size(), "all-linear adapts every linear layer");
            assertArrayEquals(before, logits(m, ids), 0f, m.config().modelType());
        }
    }

    /** Adds all-linear adapters with random B to {@code m}; returns its logits before and after. */
    static float[][] baseAndAdapted(CausalLM m, Tensor ids) {
        float[] base = logits(m, ids);
        m.addLora(ALL);
        randomiseB(m);
        return new float[][] {base, logits(m, ids)};
    }

    @Test
    void mergedWeightsGiveTheLogitsOfBasePlusAdapters() {
        for (CausalLM m : List.of(llama(), gpt2())) {
            Tensor ids = ids();
            float[][] before = baseAndAdapted(m, ids);
            float[] base = before[0];
            float[] adapted = before[1];
            CausalLM merged = CausalLM.create(m.config(), m.adapters().merge(m.weights()));
            float[] viaMerge = logits(merged, ids);
            double moved = 0;
            for (int i = 0; i < adapted.length; i++) {
                assertEquals(adapted[i], viaMerge[i], 1e-5, m.config().modelType() + " logit " + i);
                moved = Math.max(moved, Math.abs(adapted[i] - base[i]));
            }
            assertTrue(moved > 1e-3, "the adapters change the logits (max change " + moved + ")");
        }
    }

    @Test
    void switchedOffAdaptersGiveTheBaseExactly() {
        for (CausalLM m : List.of(llama(), gpt2())) {
            Tensor ids = ids();
            float[][] before = baseAndAdapted(m, ids);
            float[] base = before[0];
            float[] adapted = before[1];
            try (LoraAdapters.Off off = m.adaptersOff()) {
                assertArrayEquals(base, logits(m, ids), 0f);
            }
            assertArrayEquals(adapted, logits(m, ids), 0f, "on again after the span");
        }
    }

    /** A model of {@code family} with all-linear adapters, A drawn after seed 2 and B random: the same each call. */
    private static CausalLM adapted(String family) {
        CausalLM m = family.equals("llama") ? llama() : gpt2();
        torch.manual_seed(2);
        m.addLora(ALL);
        randomiseB(m);
        m.parameters().forEach(p -> p.set_requires_grad(true));
        return m;
    }

    /** Under --bf16, logits of a padded batch and the adapters' gradients of a loss on them (checkpointed or not). */
    private static List<float[]> bf16Step(CausalLM m, boolean checkpointing) {
        List<float[]> out = new java.util.ArrayList<>();
        try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope();
             Compute c = Compute.use(true, checkpointing); BackwardPass pass = BackwardPass.open()) {
            Tensor ids = ids();
            Tensor keep = Tensors.longs(new long[][] {{1, 1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1, 1}}, null);
            Tensor logits = m.forward(ids, keep);
            out.add(Tensors.toFloats(logits.detach()));
            pass.backward(torch.log_softmax(logits, -1).select(-1, 3).sum());
            for (Tensor p : m.parameters()) {
                out.add(Tensors.toFloats(p.grad()));
                p.grad().zero_();
            }
        }
        return out;
    }

    @Test
    void frozenLinearsHeldInBf16GiveTheLogitsAndGradientsOfAutocastExactly() {
        for (String family : List.of("llama", "gpt2")) {
            for (boolean checkpointing : new boolean[] {false, true}) {
                CausalLM f32 = adapted(family);
                CausalLM held = adapted(family);
                Map<String, long[]> linear = LoraAdapters.linearLayers(held);
                long elements = 0;
                for (long[] s : linear.values()) {
                    elements += s[0] * s[1];
                }
                assertEquals(2 * elements, held.holdFrozenLinearsInBf16(), "two bytes freed per linear weight");
                held.weights().forEach((name, t) -> assertEquals(
                        linear.containsKey(name.replace(".weight", "")) ? torch.ScalarType.BFloat16 : torch.ScalarType.Float,
                        t.scalar_type().intern(), name));
                List<float[]> expected = bf16Step(f32, checkpointing);
                List<float[]> actual = bf16Step(held, checkpointing);
                assertEquals(expected.size(), actual.size());
                String what = family + (checkpointing ? " checkpointed" : "");
                assertArrayEquals(expected.get(0), actual.get(0), 0f, what + ": logits");
                for (int i = 1; i < expected.size(); i++) {
                    assertArrayEquals(expected.get(i), actual.get(i), 0f, what + ": gradient of parameter " + i);
                }
                assertTrue(max(expected.get(1)) > 0 && max(expected.get(2)) > 0, "the loss reaches the adapters");
            }
        }
    }

    private static double max(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void aModelHeldInBf16DecodesOneRow() {
        for (String family : List.of("llama", "gpt2")) {
            CausalLM f32 = adapted(family);
            CausalLM held = adapted(family);
            held.holdFrozenLinearsInBf16();
            Tensor one = ids().narrow(0, 0, 1);
            try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope();
                 NoGradGuard ng = new NoGradGuard(); Compute c = Compute.use(true, false)) {
                // a row at a time, as batch-1 decoding (float32 weights through mv, bfloat16 ones through linear)
                Tensor last = one.narrow(1, 6, 1);
                Tensor keep = torch.ones_like(last);
                float[] a = Tensors.toFloats(f32.forward(last, keep));
                float[] b = Tensors.toFloats(held.forward(last, keep));
                double err = 0;
                double scale = 0;
                for (int i = 0; i < a.length; i++) {
                    err = Math.max(err, Math.abs(a[i] - b[i]));
                    scale = Math.max(scale, Math.abs(a[i]));
                }
                assertTrue(err / scale < 5e-2, family + ": bf16 products near float32's, relative error " + err / scale);
            }
            String first = LoraAdapters.linearLayers(held).keySet().iterator().next() + ".weight";
            assertFalse(held.weights().get(first).scalar_type().intern() == torch.ScalarType.Float, family + ": " + first);
        }
    }

    @Test
    void holdingInBf16NeedsAdapters() {
        CausalLM m = llama();
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, m::holdFrozenLinearsInBf16);
    }

    @Test
    void onlyTheAdaptersAndAScalarHeadTrain_theBaseStaysFrozen() {
        CausalLM lm = llama();
        Map<String, Tensor> w = new LinkedHashMap<>(lm.weights());
        w.put(CausalLM.SCORE, torch.randn(1, 16).mul(Tensors.s(0.1)));
        CausalLM rm = CausalLM.create(lm.config(), w);
        rm.addLora(LoraConfig.defaults(2, "llama"));
        assertEquals(2 * 2 * 2 + 1, rm.trainable().size(), "A and B of q_proj and v_proj in 2 layers, and the head");
        assertTrue(rm.trainable().containsKey("model.layers.1.self_attn.v_proj.lora_B.weight"));
        assertTrue(rm.trainable().containsKey(CausalLM.SCORE));
        rm.parameters().forEach(t -> t.set_requires_grad(true));
        Tensor ids = ids();
        rm.sequenceScores(ids, torch.ones_like(ids)).sum().backward();
        assertTrue(rm.trainable().get("model.layers.0.self_attn.q_proj.lora_B.weight").grad().defined());
        assertTrue(rm.weights().get(CausalLM.SCORE).grad().defined());
        assertFalse(rm.weights().get("model.layers.0.self_attn.q_proj.weight").requires_grad(), "base frozen");
        assertFalse(rm.weights().get("model.layers.0.self_attn.q_proj.weight").grad().defined());
    }

    @Test
    void theLinearLayersAreEveryMatrixButEmbeddingsAndHead_asOutInShapes() {
        Map<String, long[]> g = LoraAdapters.linearLayers(gpt2());
        assertEquals(List.of("transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
                "transformer.h.0.mlp.c_proj"), g.keySet().stream().limit(4).toList());
        assertArrayEquals(new long[] {48, 16}, g.get("transformer.h.0.attn.c_attn"), "Conv1D (16, 48) as (out, in)");
        Map<String, long[]> l = LoraAdapters.linearLayers(llama());
        assertEquals(14, l.size());
        assertArrayEquals(new long[] {8, 16}, l.get("model.layers.0.self_attn.k_proj"));
    }
}
