package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.keel.TestSupport;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;

class Bf16MvTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theTestJvmHasTheVectorModule_soTheKernelIsTestedHere() {
        // surefire's argLine adds jdk.incubator.vector, as ./keel does; without it every test below would pass on
        // libtorch's product and prove nothing about the kernel
        assertTrue(Bf16Mv.available(), "the JVM runs without --add-modules jdk.incubator.vector or 256-bit vectors");
    }

    @Test
    void roundsToTheNearestBfloat16_tiesToEven_asC10Does() {
        assertEquals((short) 0x3F80, Bf16Mv.toBf16(1.0f));
        assertEquals((short) 0xBF80, Bf16Mv.toBf16(-1.0f));
        assertEquals((short) 0x8000, Bf16Mv.toBf16(-0.0f));
        // 0x3F808000 is halfway between 0x3F80 and 0x3F81: to the even one; 0x3F818000 halfway up from the odd 0x3F81
        assertEquals((short) 0x3F80, Bf16Mv.toBf16(Float.intBitsToFloat(0x3F808000)));
        assertEquals((short) 0x3F82, Bf16Mv.toBf16(Float.intBitsToFloat(0x3F818000)));
        assertEquals((short) 0x3F81, Bf16Mv.toBf16(Float.intBitsToFloat(0x3F808001)));
        assertEquals((short) 0x3F80, Bf16Mv.toBf16(Float.intBitsToFloat(0x3F807FFF)));
        assertEquals((short) 0x7F80, Bf16Mv.toBf16(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7FC0, Bf16Mv.toBf16(Float.NaN));
        // the largest float rounds up past bfloat16's largest finite value, to infinity
        assertEquals((short) 0x7F80, Bf16Mv.toBf16(Float.MAX_VALUE));
        // 3.140625 = 0x40490000 is exact
        assertEquals((short) 0x4049, Bf16Mv.toBf16(3.140625f));
    }

    @Test
    void givesTheFloat32ProductRoundedOnce_atShapesWithAndWithoutARemainder() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(11);
            // columns: fewer than one vector, a remainder after the vectors, none; rows over and under the split size
            long[][] shapes = {{1, 2}, {3, 34}, {37, 70}, {600, 578}, {1100, 512}};
            for (long[] s : shapes) {
                for (boolean withBias : new boolean[] {false, true}) {
                    Tensor x = torch.randn(1, 1, s[1]).to(ScalarType.BFloat16);
                    Tensor w = torch.randn(s[0], s[1]).to(ScalarType.BFloat16);
                    Tensor b = withBias ? torch.randn(s[0]).to(ScalarType.BFloat16) : null;
                    String what = s[0] + " x " + s[1] + (withBias ? " with bias" : "");
                    assertTrue(Bf16Mv.applies(x, w, b), what);
                    Tensor y = Bf16Mv.mv(x, w, b);
                    assertEquals(ScalarType.BFloat16, y.scalar_type().intern(), what);
                    assertArrayEquals(new long[] {1, 1, s[0]}, Tensors.shape(y), what);
                    // the same bfloat16 inputs multiplied in float32 by libtorch: one rounding apart at most
                    Tensor ref = torch.mv(w.to(ScalarType.Float), x.reshape(s[1]).to(ScalarType.Float));
                    if (b != null) {
                        ref = ref.add(b.to(ScalarType.Float));
                    }
                    float[] got = Tensors.toFloats(y.reshape(s[0]).to(ScalarType.Float));
                    float[] want = Tensors.toFloats(ref);
                    for (int r = 0; r < got.length; r++) {
                        // half a bfloat16 step (2^-8 relative) for the rounding, and float32 sums in another order
                        double tol = Math.abs(want[r]) * Math.pow(2, -8) + 1e-5 * Math.sqrt(s[1]);
                        assertEquals(want[r], got[r], tol, what + ", row " + r);
                    }
                }
            }
        }
    }

    @Test
    void theSameBitsOnOneThreadAsOnTwo() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(12);
            Tensor x = torch.randn(1, 896).to(ScalarType.BFloat16);
            Tensor w = torch.randn(1001, 896).to(ScalarType.BFloat16);   // above SPLIT_BYTES: split between threads
            assertTrue(2L * 1001 * 896 >= Bf16Mv.SPLIT_BYTES);
            int threads = torch.get_num_threads();
            try {
                torch.set_num_threads(2);
                Tensor two = Bf16Mv.mv(x, w, null);
                torch.set_num_threads(1);
                Tensor one = Bf16Mv.mv(x, w, null);
                assertTrue(torch.equal(one, two), "each row's sum is one thread's, in one order");
            } finally {
                torch.set_num_threads(threads);
            }
        }
    }

    @Test
    void aGenerationsEndParksTheHelpersAtOnce_ratherThanAfterTheirSpin() throws InterruptedException {
        int threads = torch.get_num_threads();
        try (KvCache cache = new KvCache(1, 4, null)) {
            torch.set_num_threads(2);
            float[] y = new float[64];
            // a product that leaves its helper spinning for a minute
            Bf16Mv.split(64, Bf16Mv.SPLIT_BYTES, (r0, r1) -> java.util.Arrays.fill(y, r0, r1, 1f), 60_000_000_000L);
            assertEquals(64f, sum(y));
            int[] started = Bf16Mv.helperStates();
            assertTrue(started[0] >= 1, "the product was split");
            Thread.sleep(50);
            assertTrue(Bf16Mv.helperStates()[1] < started[0], "the product's helper spins: not parked 50 ms into a minute");
            cache.close();                                  // the generation's end
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (Bf16Mv.helperStates()[1] < started[0] && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(started[0], Bf16Mv.helperStates()[1], "every helper parked well inside its minute");
            // and a parked helper still takes the next product
            java.util.Arrays.fill(y, 0f);
            Bf16Mv.split(64, Bf16Mv.SPLIT_BYTES, (r0, r1) -> java.util.Arrays.fill(y, r0, r1, 2f));
            assertEquals(128f, sum(y));
        } finally {
            torch.set_num_threads(threads);
        }
    }

    private static float sum(float[] y) {
        float s = 0;
        for (float v : y) {
            s += v;
        }
        return s;
    }

    @Test
    void opsLinearTakesItForOneBfloat16Row_andNotWhereItDoesNotApply() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(13);
            Tensor x = torch.randn(1, 1, 64).to(ScalarType.BFloat16);
            Tensor w = torch.randn(48, 64).to(ScalarType.BFloat16);
            Tensor b = torch.randn(48).to(ScalarType.BFloat16);
            Tensor kernel = Bf16Mv.mv(x, w, b);
            long before = Bf16Mv.products();
            Tensor viaOps = Ops.linear(x, w, b);
            assertEquals(before + 1, Bf16Mv.products(), "Ops.linear ran the kernel");
            assertTrue(torch.equal(kernel, viaOps));
            boolean was = Bf16Mv.enable(false);
            try {
                long counted = Bf16Mv.products();
                Tensor oneDnn = Ops.linear(x, w, b);
                assertEquals(counted, Bf16Mv.products(), "switched off: not the kernel");
                Tensor ref = torch.linear(x, w, new TensorOptional(b));
                assertTrue(torch.equal(ref, oneDnn), "switched off: libtorch's linear");
            } finally {
                Bf16Mv.enable(was);
            }
            assertFalse(Bf16Mv.applies(x.to(ScalarType.Float), w.to(ScalarType.Float), null), "float32");
            assertFalse(Bf16Mv.applies(torch.randn(2, 64).to(ScalarType.BFloat16), w, null), "two rows");
            assertFalse(Bf16Mv.applies(x.to(ScalarType.Float), w, null), "a float32 row");
            assertFalse(Bf16Mv.applies(torch.randn(1, 63).to(ScalarType.BFloat16),
                    torch.randn(48, 63).to(ScalarType.BFloat16), null), "an odd number of columns");
            assertFalse(Bf16Mv.applies(torch.randn(1, 48).to(ScalarType.BFloat16), w.t(), null), "a transposed weight");
        }
        try (PointerScope scope = new PointerScope()) {
            Tensor x = torch.randn(1, 64).to(ScalarType.BFloat16);
            Tensor w = torch.randn(48, 64).to(ScalarType.BFloat16).requires_grad_(true);
            assertFalse(Bf16Mv.applies(x, w, null), "autograd has to see the product");
        }
    }

    static java.util.List<String> models() {
        return TestSupport.PARITY_MODELS;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void greedyDecodingOfOneSequenceInBfloat16_theTokensOfLibtorchsProducts(String name) {
        // each family loaded in bfloat16 (Qwen2 has a bias on q, k and v; GPT-2's Conv1D weights are (in, out) and
        // decode on a transposed copy): one sequence at a time decodes on the kernel; switched off, on oneDNN's
        // bfloat16 products. Sums in another order, rounded once to bfloat16 either way
        java.nio.file.Path dir = TestSupport.fixture("parity/" + name);
        CausalLM m = ModelFiles.load(dir, dev.keel.model.io.DType.BF16, null);
        com.fasterxml.jackson.databind.JsonNode ref = TestSupport.readJson(dir.resolve("reference.json"));
        java.util.List<long[]> prompts = TestSupport.longRows(ref.get("input_ids"));
        SamplingConfig greedy = SamplingConfig.greedy(20, java.util.Set.of());
        // per decoding step: every layer's products (at least attention's two and the MLP's two) and the head
        long perStep = 4L * m.config().numLayers() + 1;
        double worst = 0;
        for (int i = 0; i < prompts.size(); i++) {
            long before = products();
            long stepsBefore = NativeStep.steps();
            Generation kernel = BatchGenerator.generate(m, java.util.List.of(prompts.get(i)), greedy, StopCriterion.NEVER, 0);
            // the Llama family's layers run in the step in C (NativeStep), on the same row kernels
            long ran = products() - before + (NativeStep.steps() - stepsBefore) * 4L * m.config().numLayers();
            assertTrue(ran >= 19 * perStep, name + ", prompt " + i + ": decoding ran on the kernel (" + ran + " products)");
            boolean was = Bf16Mv.enable(false);
            Generation libtorch;
            try {
                libtorch = BatchGenerator.generate(m, java.util.List.of(prompts.get(i)), greedy, StopCriterion.NEVER, 0);
            } finally {
                Bf16Mv.enable(was);
            }
            assertArrayEquals(libtorch.tokens().get(0), kernel.tokens().get(0), name + ", prompt " + i);
            float[] a = kernel.logProbs().get(0);
            float[] b = libtorch.logProbs().get(0);
            for (int t = 0; t < a.length; t++) {
                worst = Math.max(worst, Math.abs(a[t] - b[t]));
            }
        }
        System.out.println(name + ": largest log-prob difference, kernel against oneDNN, bfloat16: " + worst);
        assertTrue(worst < 0.05, name + ": log-probs " + worst + " apart");
    }

    private static long products() {
        return Bf16Mv.products();
    }
}
