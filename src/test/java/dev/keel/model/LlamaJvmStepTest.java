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
     * The same prompt through three caches: token after token on the step in C ({@link NativeStep}), on the JVM's step
     * in Java, and on libtorch's (the kernel's products, so they differ only in the step's other operations); then, on
     * a fourth cache, the step and libtorch's in turn, which read each other's keys and values. The caches start with
     * room for the prompt only, so every step grows them.
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
             KvCache turns = new KvCache(layers, prompt.length); KvCache java = new KvCache(layers, prompt.length)) {
            for (KvCache c : List.of(jvm, lib, turns, java)) {
                m.hidden(Tensors.longs(new long[][] {prompt}, m.device()), positions(0, prompt.length), null, c);
            }
            double worst = 0;
            double worstJava = 0;
            assertTrue(NativeStep.enabled(), "the row kernels' library is built and loaded here: " + NativeRows.loadError());
            for (int t = 0; t < next.length; t++) {
                Tensor id = Tensors.longs(new long[][] {{next[t]}}, m.device());
                Tensor pos = positions(prompt.length + t, 1);
                long before = LlamaJvmStep.steps();
                long inC = NativeStep.steps();
                float[] a = floats(m.hidden(id, pos, null, jvm));
                assertEquals(before + 1, LlamaJvmStep.steps(), name + ": the step ran on the JVM");
                assertEquals(inC + 1, NativeStep.steps(), name + ": the step ran in C");
                float[] j = stepInJava(() -> floats(m.hidden(id, pos, null, java)));
                assertEquals(inC + 1, NativeStep.steps(), name + ": the step ran in Java");
                before = LlamaJvmStep.steps() - 1;
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
                    worstJava = Math.max(worstJava, Math.abs(j[k] - b[k]) / scale);
                    // the steps in turn: each reads the keys and values the other wrote
                    assertTrue(Math.abs(c[k] - b[k]) <= tolerance * scale, name + ", token " + t + ", element " + k + ": " + c[k]
                            + " against " + b[k]);
                }
                assertEquals(prompt.length + t + 1, jvm.length());
                assertEquals(prompt.length + t + 1, turns.length());
                assertEquals(prompt.length + t + 1, java.length());
            }
            System.out.println(name + ": largest hidden-state difference against libtorch's step, " + dtype + ": in C "
                    + worst + ", in Java " + worstJava + " of the largest value");
            // bfloat16: a few roundings (2^-8 each, relative) compounded over the layers; float32: sums in another
            // order. A wrong rotation, norm or attention is off by the size of the values
            assertTrue(worst < tolerance, name + ": hidden states " + worst + " apart (in C)");
            assertTrue(worstJava < tolerance, name + ": hidden states " + worstJava + " apart (in Java)");
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
        long inC = NativeStep.steps();
        Generation f32On = BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0);
        assertEquals(before + 11, LlamaJvmStep.steps(), "float32 weights");
        assertEquals(inC + 11, NativeStep.steps(), "float32 weights, in C");
        // each of the 11 steps in C, the head's product after it on the JVM
        assertEquals(11L, Bf16Mv.products() - products);
        products = Bf16Mv.products();
        Generation f32Java = stepInJava(() -> BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0));
        // the step in Java: the four products of every layer, and the head's
        assertEquals(11L * (4 * f32.config().numLayers() + 1), Bf16Mv.products() - products);
        Generation f32Off = withoutStep(() -> BatchGenerator.generate(f32, List.of(prompt), greedy, StopCriterion.NEVER, 0));
        for (Generation g : List.of(f32On, f32Java)) {
            assertArrayEquals(f32Off.tokens().get(0), g.tokens().get(0));
            for (int t = 0; t < 12; t++) {
                assertEquals(f32Off.logProbs().get(0)[t], g.logProbs().get(0)[t], 1e-4, "float32 log-prob of token " + t);
            }
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

    /**
     * A model whose weights are above {@link Bf16Mv#SPLIT_BYTES}, so that the step in C runs on two threads meeting at
     * its barriers: the same bits as on one thread (each row is one thread's sum, whichever thread takes it; the work
     * between the products split by head or by element, each element computed alike), token after token on a cache
     * both read; and the JVM's step in Java to the dtype's rounding. For every loop this CPU runs (AVX-512, AVX2, C).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16, 0.05", "F32, 1e-5"})
    void theStepInC_theSameBitsOnTwoThreadsAsOnOne_andTheJavaStepsHiddenStates(DType dtype, double tolerance) {
        dev.keel.model.io.ModelConfig config = dev.keel.model.io.ConfigFactory.llama(512, 256, 2, 4, 2, 512, 128, 10000,
                false, 1, 2);
        CausalLM m = ModelInit.random(config, 21, dtype);
        assertTrue((dtype == DType.BF16 ? 2L : 4L) * 256 * 512 >= Bf16Mv.SPLIT_BYTES, "a step's products are split");
        String isa = NativeRows.instructionSet();
        int ran = 0;
        try {
            for (String loops : List.of("avx512f", "avx2", "c")) {
                if (NativeRows.useInstructionSet(loops)) {
                    twoThreadsOneThreadAndJava(m, dtype + " " + loops, tolerance);
                    ran++;
                }
            }
        } finally {
            assertTrue(NativeRows.useInstructionSet(isa));
        }
        assertTrue(ran >= 2, "the C loops and at least one vector loop");
    }

    /**
     * A helper that fails on the JVM's side before it reaches the step in C (here, on purpose): the calling thread, at
     * the step's first barrier, stops waiting for it, and the generation ends with the error instead of hanging; the
     * next generation has a step of its own and runs.
     */
    @Test
    void aHelperThatFailsBeforeTheStep_endsTheGenerationWithItsError_notAHang() {
        dev.keel.model.io.ModelConfig config = dev.keel.model.io.ConfigFactory.llama(512, 256, 2, 4, 2, 512, 128, 10000,
                false, 1, 2);
        CausalLM m = ModelInit.random(config, 21, DType.BF16);
        long[] prompt = {3, 9, 27, 81, 243};
        SamplingConfig greedy = SamplingConfig.greedy(6, java.util.Set.of());
        int threads = torch.get_num_threads();
        try {
            torch.set_num_threads(2);
            NativeStep.FAIL_NEXT_HELPER.set(true);
            RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                    () -> org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
                            () -> BatchGenerator.generate(m, List.of(prompt), greedy, StopCriterion.NEVER, 0)));
            String chain = "";
            for (Throwable t = e; t != null; t = t.getCause()) {
                chain += t.getMessage() + " / ";
            }
            assertTrue(chain.contains("FAIL_NEXT_HELPER"), chain);
            assertTrue(!NativeStep.FAIL_NEXT_HELPER.get(), "a helper took the failure");
            long inC = NativeStep.steps();
            Generation g = BatchGenerator.generate(m, List.of(prompt), greedy, StopCriterion.NEVER, 0);
            assertEquals(6, g.tokens().get(0).length);
            assertEquals(inC + 5, NativeStep.steps(), "the next generation's steps ran in C");
        } finally {
            NativeStep.FAIL_NEXT_HELPER.set(false);
            torch.set_num_threads(threads);
        }
    }

    private static void twoThreadsOneThreadAndJava(CausalLM m, String what, double tolerance) {
        long[] prompt = {3, 9, 27, 81, 243};
        long[] next = {5, 17, 3, 42, 8, 11, 500};
        int layers = m.config().numLayers();
        int threads = torch.get_num_threads();
        try (NoGradGuard ng = new NoGradGuard(); PointerScope scope = new PointerScope();
             KvCache two = new KvCache(layers, 2); KvCache one = new KvCache(layers, 2);
             KvCache java = new KvCache(layers, 2)) {
            for (KvCache c : List.of(two, one, java)) {
                m.hidden(Tensors.longs(new long[][] {prompt}, m.device()), positions(0, prompt.length), null, c);
            }
            for (int t = 0; t < next.length; t++) {
                Tensor id = Tensors.longs(new long[][] {{next[t]}}, m.device());
                Tensor pos = positions(prompt.length + t, 1);
                long inC = NativeStep.steps();
                torch.set_num_threads(2);
                Tensor a = m.hidden(id, pos, null, two);
                torch.set_num_threads(1);
                Tensor b = m.hidden(id, pos, null, one);
                torch.set_num_threads(threads);
                assertEquals(inC + 2, NativeStep.steps(), what + ": both steps in C");
                assertTrue(torch.equal(a, b), what + ", token " + t + ": the same bits on two threads as on one");
                float[] j = stepInJava(() -> floats(m.hidden(id, pos, null, java)));
                float[] c = floats(a);
                double scale = 0;
                for (float v : j) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int k = 0; k < c.length; k++) {
                    assertEquals(j[k], c[k], tolerance * scale, what + ", token " + t + ", element " + k + " against Java's step");
                }
            }
        } finally {
            torch.set_num_threads(threads);
        }
    }

    /** run with the Llama step on the JVM in Java rather than in C. */
    private static <T> T stepInJava(java.util.function.Supplier<T> run) {
        return switchedOff(NativeStep::enable, run);
    }

    /** run with libtorch's step rather than the JVM's. */
    private static <T> T withoutStep(java.util.function.Supplier<T> run) {
        return switchedOff(LlamaJvmStep::enable, run);
    }

    /** run with a switch ({@code enable(on)} returning the previous setting) off, then back as it was. */
    private static <T> T switchedOff(java.util.function.UnaryOperator<Boolean> enable, java.util.function.Supplier<T> run) {
        boolean was = enable.apply(false);
        try {
            return run.get();
        } finally {
            enable.apply(was);
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
