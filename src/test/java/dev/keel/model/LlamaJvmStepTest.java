package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.keel.TestSupport;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;

class LlamaJvmStepTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void roundsToBfloat16AsAFloat() {
        assertEquals(1.0f, LlamaJvmStep.toBf16(1.0f));
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even, 1; a hair above it rounds up
        assertEquals(1.0f, LlamaJvmStep.toBf16(1.00390625f));
        assertEquals(1.0078125f, LlamaJvmStep.toBf16(Math.nextUp(1.00390625f)));
        assertEquals(-3.140625f, LlamaJvmStep.toBf16(-3.1415927f));
    }

    /**
     * The same prompt through two caches: token after token on the JVM's step, and on libtorch's (the kernel's
     * products, so the two differ only in the step's other operations); then, on a third cache, the two steps in turn,
     * which read each other's keys and values. The cache starts with room for the prompt only, so every step grows it.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"llama3-rope-sharded, BF16, 0.05", "qwen2-tiny-bf16, BF16, 0.05", "mistral-tiny-headdim, BF16, 0.05",
            "llama3-rope-sharded, F32, 1e-5", "qwen2-tiny-bf16, F32, 1e-5", "mistral-tiny-headdim, F32, 1e-5"})
    void hiddenStatesOfLibtorchsStep_toTheDtypesRounding_andTheStepsTakeTurnsOnOneCache(String name, DType dtype,
            double tolerance) {
        java.nio.file.Path dir = TestSupport.fixture("parity/" + name);
        CausalLM m = ModelFiles.load(dir, dtype, null);
        long[] prompt = TestSupport.longRows(TestSupport.readJson(dir.resolve("reference.json")).get("input_ids")).get(0);
        long[] next = {5, 17, 3, 42, 8, 11};
        int layers = m.config().numLayers();
        try (NoGradGuard ng = new NoGradGuard(); PointerScope scope = new PointerScope();
             KvCache jvm = new KvCache(layers, prompt.length); KvCache lib = new KvCache(layers, prompt.length);
             KvCache turns = new KvCache(layers, prompt.length)) {
            for (KvCache c : List.of(jvm, lib, turns)) {
                m.hidden(Tensors.longs(new long[][] {prompt}, m.device()), positions(0, prompt.length), null, c);
            }
            double worst = 0;
            for (int t = 0; t < next.length; t++) {
                Tensor id = Tensors.longs(new long[][] {{next[t]}}, m.device());
                Tensor pos = positions(prompt.length + t, 1);
                long before = LlamaJvmStep.steps();
                float[] a = floats(m.hidden(id, pos, null, jvm));
                assertEquals(before + 1, LlamaJvmStep.steps(), name + ": the step ran on the JVM");
                float[] b;
                float[] c;
                boolean was = LlamaJvmStep.enable(false);
                try {
                    b = floats(m.hidden(id, pos, null, lib));
                    c = t % 2 == 0 ? floats(m.hidden(id, pos, null, turns)) : null;
                } finally {
                    LlamaJvmStep.enable(was);
                }
                if (c == null) {
                    c = floats(m.hidden(id, pos, null, turns));
                }
                assertEquals(before + 1 + (t % 2), LlamaJvmStep.steps());
                double scale = 0;
                for (float v : b) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int k = 0; k < a.length; k++) {
                    worst = Math.max(worst, Math.abs(a[k] - b[k]) / scale);
                    // the steps in turn: each reads the keys and values the other wrote
                    assertTrue(Math.abs(c[k] - b[k]) <= tolerance * scale, name + ", token " + t + ", element " + k + ": " + c[k]
                            + " against " + b[k]);
                }
                assertEquals(prompt.length + t + 1, jvm.length());
                assertEquals(prompt.length + t + 1, turns.length());
            }
            System.out.println(name + ": largest hidden-state difference, JVM step against libtorch's, " + dtype + ": "
                    + worst + " of the largest value");
            // bfloat16: a few roundings (2^-8 each, relative) compounded over the layers; float32: sums in another
            // order. A wrong rotation, norm or attention is off by the size of the values
            assertTrue(worst < tolerance, name + ": hidden states " + worst + " apart");
        }
    }

    @Test
    void greedyDecodingWithAndWithoutTheStep_sameTokens_andOnlyWhereItApplies() {
        java.nio.file.Path dir = TestSupport.fixture("parity/qwen2-tiny-bf16");
        long[] prompt = TestSupport.longRows(TestSupport.readJson(dir.resolve("reference.json")).get("input_ids")).get(0);
        SamplingConfig greedy = SamplingConfig.greedy(12, java.util.Set.of());
        CausalLM bf16 = ModelFiles.load(dir, DType.BF16, null);
        long before = LlamaJvmStep.steps();
        Generation on = BatchGenerator.generate(bf16, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        assertEquals(before + 11, LlamaJvmStep.steps(), "every token after the prompt's");
        Generation off = withoutStep(() -> BatchGenerator.generate(bf16, List.of(prompt), greedy, StopCriterion.NEVER, 0));
        assertArrayEquals(off.tokens().get(0), on.tokens().get(0));
        CausalLM f32 = ModelFiles.load(dir, DType.F32, null);
        before = LlamaJvmStep.steps();
        long products = Bf16Mv.products();
        Generation f32On = BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        assertEquals(before + 11, LlamaJvmStep.steps(), "float32 weights");
        // each of the 11 steps: the four products of every layer and, after the step, the head's on the JVM too
        assertEquals(11L * (4 * f32.config().numLayers() + 1), Bf16Mv.products() - products);
        Generation f32Off = withoutStep(() -> BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0));
        assertArrayEquals(f32Off.tokens().get(0), f32On.tokens().get(0));
        for (int t = 0; t < 12; t++) {
            assertEquals(f32Off.logProbs().get(0)[t], f32On.logProbs().get(0)[t], 1e-4, "float32 log-prob of token " + t);
        }
        // two sequences at once, the kernel switched off for bfloat16, a LoRA update, gradients: libtorch's step
        before = LlamaJvmStep.steps();
        BatchGenerator.generate(bf16, List.of(prompt, prompt), greedy, StopCriterion.NEVER, 0);
        boolean was = Bf16Mv.enable(false);
        try {
            BatchGenerator.generate(bf16, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        } finally {
            Bf16Mv.enable(was);
        }
        try (PointerScope scope = new PointerScope(); KvCache cache = new KvCache(f32.config().numLayers(), 8)) {
            try (NoGradGuard ng = new NoGradGuard()) {
                f32.hidden(Tensors.longs(new long[][] {prompt}, f32.device()), positions(0, prompt.length), null, cache);
            }
            f32.hidden(Tensors.longs(new long[][] {{5}}, f32.device()), positions(prompt.length, 1), null, cache);
        }
        assertEquals(before, LlamaJvmStep.steps(), "with gradients");
        f32.addLora(LoraConfig.defaults(4, f32.config().modelType()));
        BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        assertEquals(before, LlamaJvmStep.steps());
        try (LoraAdapters.Off adaptersOff = f32.adaptersOff()) {
            BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        }
        assertEquals(before + 11, LlamaJvmStep.steps(), "the adapters switched off: the base's step again");
    }

    private static <T> T withoutStep(java.util.function.Supplier<T> run) {
        boolean was = LlamaJvmStep.enable(false);
        try {
            return run.get();
        } finally {
            LlamaJvmStep.enable(was);
        }
    }

    private static Tensor positions(long from, long n) {
        return torch.arange(Tensors.s(from), Tensors.s(from + n),
                Tensors.options(ScalarType.Long, new org.bytedeco.pytorch.Device("cpu"))).view(1, -1);
    }

    private static float[] floats(Tensor t) {
        return Tensors.toFloats(t.to(ScalarType.Float).contiguous());
    }
}
