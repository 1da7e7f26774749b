package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.openblas.presets.openblas_nolapack;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelConfig;
import dev.keel.runtime.BlasThreads;

class PrepackedTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void packedProductsEqualTorchLinearForEveryRowCountAndHint() {
        assertTrue(Prepacked.enabled(), "this libtorch has oneDNN's packed linear (mkldnn::_linear_pointwise)");
        // (out, in): the tiny Llama's q/k/v, o, gate/up and down, a vocabulary head, and a shape smaller than a block;
        // hint 1 is the one oneDNN gets wrong at 256 x 256 and 256 x 688 when given as it is
        long[][] shapes = {{768, 256}, {256, 256}, {1376, 256}, {256, 688}, {4096, 256}, {3, 64}};
        for (long[] s : shapes) {
            for (long hint : new long[] {1, 2, 16, 64}) {
                try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                    torch.manual_seed(s[0] * 31 + hint);
                    Tensor w = torch.randn(s[0], s[1]);
                    Tensor b = torch.randn(s[0]);
                    Tensor packed = Prepacked.pack(w, hint);
                    assertNotNull(packed, s[0] + "x" + s[1] + " packed for " + hint + " rows");
                    for (long rows : new long[] {1, 2, 7, 16, 65}) {
                        Tensor x = torch.randn(rows, s[1]);
                        for (Tensor bias : new Tensor[] {null, b}) {
                            Tensor expected = torch.linear(x, w, bias == null ? new TensorOptional() : new TensorOptional(bias));
                            Tensor got = Prepacked.linear(x, packed, bias);
                            assertArrayEquals(expected.sizes().vec().get(), got.sizes().vec().get());
                            double err = expected.sub(got).abs().max().item_double() / expected.abs().max().item_double();
                            assertTrue(err < 1e-5, s[0] + "x" + s[1] + " hint " + hint + " rows " + rows + ": " + err);
                        }
                    }
                    // (B, T, in) inputs keep their leading dimensions
                    Tensor x3 = torch.randn(3, 5, s[1]);
                    assertArrayEquals(new long[] {3, 5, s[0]}, Prepacked.linear(x3, packed, null).sizes().vec().get());
                }
            }
        }
    }

    @Test
    void packedBfloat16ProductsEqualTorchLinearWithinOneRoundingOfTheirOutputs() {
        // the Qwen2.5-0.5B shape's widths (scaled down in the output dimension) and the tiny Llama's
        long[][] shapes = {{1152, 896}, {256, 4864}, {768, 256}, {256, 688}, {3, 64}};
        for (long[] s : shapes) {
            for (long hint : new long[] {1, 16, 64}) {
                try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                    torch.manual_seed(s[0] * 17 + hint);
                    Tensor w = torch.randn(s[0], s[1]).to(torch.ScalarType.BFloat16);
                    Tensor b = torch.randn(s[0]).to(torch.ScalarType.BFloat16);
                    Tensor packed = Prepacked.pack(w, hint);
                    assertNotNull(packed, s[0] + "x" + s[1] + " packed for " + hint + " rows");
                    for (long rows : new long[] {1, 7, 16, 65}) {
                        Tensor x = torch.randn(rows, s[1]).to(torch.ScalarType.BFloat16);
                        for (Tensor bias : new Tensor[] {null, b}) {
                            Tensor expected = torch.linear(x, w, bias == null ? new TensorOptional() : new TensorOptional(bias));
                            Tensor got = Prepacked.linear(x, packed, bias);
                            assertEquals(torch.ScalarType.BFloat16, got.scalar_type().intern());
                            assertArrayEquals(expected.sizes().vec().get(), got.sizes().vec().get());
                            // the same float32 sums in another order, each rounded once to bfloat16: one rounding
                            // step (at most 2^-7 of the value) apart, element by element, but for sums that cancel
                            // to near zero
                            Tensor e = expected.to(torch.ScalarType.Float);
                            Tensor g = got.to(torch.ScalarType.Float);
                            double worst = e.sub(g).abs().sub(e.abs().mul(dev.keel.tensor.Tensors.s(1.0 / 128)))
                                    .max().item_double() / e.abs().max().item_double();
                            assertTrue(worst <= 1e-4, s[0] + "x" + s[1] + " hint " + hint + " rows " + rows + ": " + worst);
                        }
                    }
                }
            }
        }
    }

    @Test
    void theCheckOfABfloat16PackingRejectsAPackedWeightThatIsNotTheWeight() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(5);
            assertTheCheckRejectsOneRowOff(torch.randn(256, 512).to(torch.ScalarType.BFloat16), 1.05);
        }
    }

    @Test
    void theCheckOfAPackingRejectsAPackedWeightThatIsNotTheWeight() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(4);
            assertTheCheckRejectsOneRowOff(torch.randn(256, 256), 1.01);
        }
    }

    /** w's packing passes the check, and that of w with one output row scaled by {@code factor} fails it. */
    private static void assertTheCheckRejectsOneRowOff(Tensor w, double factor) {
        Tensor packed = Prepacked.pack(w, 16);
        assertTrue(Prepacked.matches(w, packed, 1) && Prepacked.matches(w, packed, 16));
        Tensor nearly = w.clone();
        nearly.narrow(0, 100, 1).mul_(dev.keel.tensor.Tensors.s(factor));
        Tensor other = Prepacked.pack(nearly, 16);
        assertFalse(Prepacked.matches(w, other, 1), "one row of 256 outputs off by a factor " + factor);
        assertFalse(Prepacked.matches(w, other, 16));
    }

    @Test
    void generationWithPackedWeightsGivesTheTokensAndLogProbsOfPlainWeights() {
        dev.keel.model.io.DType bf16 = dev.keel.model.io.DType.BF16;
        List<CausalLM> models = List.of(
                ModelInit.random(ConfigFactory.llama(512, 64, 2, 4, 2, 160, 128, 10000, false, 1, 2), 5, null),
                ModelInit.random(ConfigFactory.gpt2(512, 64, 2, 4, 128, 1, 2), 6, null),
                ModelInit.random(ConfigFactory.llama(512, 64, 2, 4, 2, 160, 128, 10000, false, 1, 2), 5, bf16),
                ModelInit.random(ConfigFactory.gpt2(512, 64, 2, 4, 128, 1, 2), 6, bf16));
        Random r = new Random(3);
        List<long[]> prompts = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            long[] p = new long[3 + r.nextInt(9)];                    // different lengths: padded rows and masks
            for (int j = 0; j < p.length; j++) {
                p[j] = 3 + r.nextInt(500);
            }
            prompts.add(p);
        }
        SamplingConfig greedy = SamplingConfig.greedy(24, Set.of());
        for (CausalLM m : models) {
            boolean before = Prepacked.use(false);
            Generation plain;
            try {
                plain = BatchGenerator.generate(m, prompts, greedy, StopCriterion.NEVER, 0);
            } finally {
                Prepacked.use(before);
            }
            long packs = Prepacked.packed();
            Generation packed = BatchGenerator.generate(m, prompts, greedy, StopCriterion.NEVER, 0);
            String name = m.config().family() + " " + m.dtype();
            assertTrue(Prepacked.packed() > packs, name + ": the generation packed its weights");
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(plain.tokens().get(i), packed.tokens().get(i), name + " prompt " + i);
                assertArrayEquals(plain.logProbs().get(i), packed.logProbs().get(i), 1e-4f);
            }
        }
    }

    @Test
    void onlyGradientFreeFloat32OrBfloat16DecodingOfSeveralRowsWithoutLoraPacks() {
        CausalLM m = ModelInit.random(ConfigFactory.llama(128, 32, 1, 2, 2, 64, 64, 10000, false, 1, 2), 7, null);
        try (PointerScope scope = new PointerScope(); KvCache cache = new KvCache(1, 8)) {
            Tensor rows = torch.zeros(4, 1, 32);
            Tensor one = torch.zeros(1, 1, 32);
            Tensor prompt = torch.zeros(1, 6, 32);
            assertFalse(m.packsForDecoding(null, rows), "no cache: not decoding");
            assertFalse(m.packsForDecoding(cache, one), "one row goes through mv");
            assertFalse(m.packsForDecoding(cache, prompt), "a batch of one: its prompt alone would use the packed weights");
            try (NoGradGuard ng = new NoGradGuard()) {
                assertTrue(m.packsForDecoding(cache, rows));
                try (Compute c = Compute.use(true, false)) {
                    assertFalse(m.packsForDecoding(cache, rows), "--bf16");
                }
                m.addLora(new LoraConfig(2, 4, 0, List.of("q_proj"), false));
                assertFalse(m.packsForDecoding(cache, rows), "LoRA updates are added to the plain products");
                try (LoraAdapters.Off off = m.adaptersOff()) {
                    assertTrue(m.packsForDecoding(cache, rows), "adapters off: the base alone");
                }
            }
            assertFalse(m.packsForDecoding(cache, rows), "gradients on");
        }
        CausalLM bf16 = ModelInit.random(ConfigFactory.llama(128, 32, 1, 2, 2, 64, 64, 10000, false, 1, 2), 7,
                dev.keel.model.io.DType.BF16);
        CausalLM f16 = ModelInit.random(ConfigFactory.llama(128, 32, 1, 2, 2, 64, 64, 10000, false, 1, 2), 7,
                dev.keel.model.io.DType.F16);
        try (PointerScope scope = new PointerScope(); KvCache cache = new KvCache(1, 8); NoGradGuard ng = new NoGradGuard()) {
            Tensor rows = torch.zeros(4, 1, 32);
            assertTrue(bf16.packsForDecoding(cache, rows), "bfloat16 weights");
            assertFalse(bf16.packsForDecoding(cache, torch.zeros(1, 1, 32)), "one bfloat16 row: the JVM's kernel");
            assertFalse(f16.packsForDecoding(cache, rows), "float16 weights");
        }
    }

    @Test
    void greedyBatchesTakeLanesOnPackedWeightsOnlyBelowAHiddenSizeOf768() {
        for (int hidden : new int[] {64, 752, 768, 1024}) {
            ModelConfig c = ConfigFactory.llama(64, hidden, 1, 8, 2, 64, 16, 10000, true, 1, 2);
            CausalLM f32 = ModelInit.random(c, 9, null);
            CausalLM bf16 = ModelInit.random(c, 9, dev.keel.model.io.DType.BF16);
            CausalLM f16 = ModelInit.random(c, 9, dev.keel.model.io.DType.F16);
            assertEquals(hidden < 768, f32.decodesGreedyInLanes(), "float32, hidden " + hidden);
            assertEquals(hidden < 768, bf16.decodesGreedyInLanes(), "bfloat16, hidden " + hidden);
            assertTrue(f32.packsWeightsForDecoding() && bf16.packsWeightsForDecoding(), "packed either way");
            assertFalse(f16.decodesGreedyInLanes(), "float16 (unpacked), hidden " + hidden);
            boolean before = Prepacked.use(false);
            try {
                assertFalse(f32.decodesGreedyInLanes(), "packing off: float32, hidden " + hidden);
                assertFalse(bf16.decodesGreedyInLanes(), "packing off: bfloat16, hidden " + hidden);
            } finally {
                Prepacked.use(before);
            }
        }
    }

    @Test
    void openBlasRunsSingleThreadedOnlyWhileAPackedGenerationRuns() {
        int before = openblas_nolapack.blas_get_num_threads();
        try {
            // -1: nothing set through the presets yet (OpenBLAS's own count), as in a fresh process
            for (int setting : new int[] {-1, 2}) {
                BlasThreads.set(setting);
                KvCache cache = new KvCache(1, 8);
                cache.singleThreadedBlas();
                assertEquals(1, openblas_nolapack.blas_get_num_threads());
                cache.singleThreadedBlas();
                cache.close();
                assertEquals(setting, openblas_nolapack.blas_get_num_threads(), "restored on close");
            }
            BlasThreads.set(2);
            CausalLM m = ModelInit.random(ConfigFactory.llama(128, 32, 1, 2, 2, 64, 64, 10000, false, 1, 2), 8, null);
            BatchGenerator.generate(m, List.of(new long[] {5, 6}, new long[] {7}), SamplingConfig.greedy(3, Set.of()),
                    StopCriterion.NEVER, 0);
            assertEquals(2, openblas_nolapack.blas_get_num_threads(), "restored when the generation ends");
        } finally {
            BlasThreads.set(before);
        }
    }
}
