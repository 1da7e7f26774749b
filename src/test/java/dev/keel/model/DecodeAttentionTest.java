package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

class DecodeAttentionTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /**
     * One head, two keys, by hand: q = (1, 0), k = ((1, 0), (0, 1)), scale 1/sqrt(2): scores (0.70711, 0), softmax
     * weights e^0.70711 / (e^0.70711 + 1) = 2.02811 / 3.02811 = 0.66976 and 0.33024; v = ((1, 2), (3, 4)) gives
     * (0.66976 + 3 x 0.33024, 2 x 0.66976 + 4 x 0.33024) = (1.66048, 2.66048).
     */
    @Test
    void oneHeadTwoKeys_byHand() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor q = Tensors.floats(new float[] {1, 0}, 1, 1, 1, 2);
            Tensor k = Tensors.floats(new float[] {1, 0, 0, 1}, 1, 1, 2, 2);
            Tensor v = Tensors.floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
            assertTrue(DecodeAttention.applies(q, k, v, null));
            long before = DecodeAttention.calls();
            float[] out = Tensors.toFloats(Attention.attend(q, k, v, null));
            assertEquals(before + 1, DecodeAttention.calls(), "Attention.attend took the JVM's route");
            assertArrayEquals(new float[] {1.66048f, 2.66048f}, out, 1e-4f);
        }
    }

    /**
     * Against libtorch's scaled_dot_product_attention (the JVM step off) on the keys and values of a cache: views of
     * the first n positions of a larger buffer, the queries a transposed (non-contiguous) view as a forward makes them,
     * grouped-query heads and not, one sequence and several. float32: sums in another order; bfloat16: both sum in
     * float32 and round once, so at most one bfloat16 step (2^-8 of the value) apart.
     */
    @ParameterizedTest(name = "{0} B={1} H={2} KV={3}")
    @CsvSource({"Float, 1, 4, 2", "Float, 3, 4, 4", "Float, 5, 6, 2", "BFloat16, 1, 4, 2", "BFloat16, 3, 4, 4",
            "BFloat16, 5, 6, 2"})
    void libtorchsAttention_toTheDtypesRounding(String dtype, int b, int heads, int kvHeads) {
        ScalarType t = ScalarType.valueOf(dtype);
        int hd = 32;
        int cap = 41;
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(3);
            Tensor q = torch.randn(b, 1, heads, hd).to(t).transpose(1, 2);                  // (B, H, 1, hd), strided
            Tensor kBuf = torch.randn(b, kvHeads, cap, hd).mul(Tensors.s(2.0)).to(t);
            Tensor vBuf = torch.randn(b, kvHeads, cap, hd).to(t);
            for (int n : new int[] {1, 7, 40}) {
                Tensor k = kBuf.narrow(2, 0, n);
                Tensor v = vBuf.narrow(2, 0, n);
                // no mask; a mask per sequence leaving keys out at random (the last, the query's own, always in),
                // as padding and a sliding window do; one mask broadcast over the sequences
                Tensor perRow = torch.rand(b, 1, 1, n).lt(Tensors.s(0.6)).logical_or(
                        torch.arange(Tensors.s(0L), Tensors.s((long) n)).eq(Tensors.s((long) n - 1)).view(1, 1, 1, n));
                Tensor shared = perRow.narrow(0, 0, 1);
                for (Tensor mask : new Tensor[] {null, perRow, shared}) {
                    String what = dtype + ", " + n + " keys, " + (mask == null ? "no mask" : "mask " + mask.size(0));
                    assertTrue(DecodeAttention.applies(q, k, v, mask), what);
                    long before = DecodeAttention.calls();
                    float[] jvm = Tensors.toFloats(Attention.attend(q, k, v, mask));
                    assertEquals(before + 1, DecodeAttention.calls());
                    float[] lib;
                    boolean was = LlamaJvmStep.enable(false);
                    try {
                        lib = Tensors.toFloats(Attention.attend(q, k, v, mask));
                    } finally {
                        LlamaJvmStep.enable(was);
                    }
                    assertEquals(before + 1, DecodeAttention.calls(), "switched off with the JVM step");
                    assertEquals(lib.length, jvm.length);
                    for (int i = 0; i < lib.length; i++) {
                        double tol = t == ScalarType.Float ? 1e-5 : Math.abs(lib[i]) * Math.pow(2, -8) + 1e-6;
                        assertEquals(lib[i], jvm[i], tol, what + ", element " + i);
                    }
                }
            }
        }
    }

    @Test
    void onlyOneQueryWithAKeyMaskOrNoneWithoutGradientsOfOneDtypeWithContiguousRows() {
        try (PointerScope scope = new PointerScope()) {
            Tensor q = torch.randn(2, 4, 1, 8);
            Tensor k = torch.randn(2, 2, 5, 8);
            Tensor v = torch.randn(2, 2, 5, 8);
            try (NoGradGuard ng = new NoGradGuard()) {
                assertTrue(DecodeAttention.applies(q, k, v, null));
                assertTrue(DecodeAttention.applies(q, k, v, torch.ones(2, 1, 1, 5).to(ScalarType.Bool)), "a key mask");
                assertFalse(DecodeAttention.applies(q, k, v, torch.ones(2, 1, 1, 5)), "a float mask");
                assertFalse(DecodeAttention.applies(q, k, v, torch.ones(2, 4, 1, 5).to(ScalarType.Bool)), "a mask per head");
                assertFalse(DecodeAttention.applies(q, k, v, torch.ones(2, 1, 1, 4).to(ScalarType.Bool)), "4 of 5 keys");
                assertFalse(DecodeAttention.applies(torch.randn(2, 4, 2, 8), k, v, null), "two queries");
                assertFalse(DecodeAttention.applies(q, k.to(ScalarType.BFloat16), v, null), "mixed dtypes");
                assertFalse(DecodeAttention.applies(q.to(ScalarType.Double), k.to(ScalarType.Double),
                        v.to(ScalarType.Double), null), "float64");
                assertFalse(DecodeAttention.applies(torch.randn(2, 4, 1, 7), torch.randn(2, 2, 5, 7),
                        torch.randn(2, 2, 5, 7), null), "an odd head size");
                assertFalse(DecodeAttention.applies(q, k.transpose(2, 3).contiguous().transpose(2, 3), v, null),
                        "key rows not contiguous");
                assertFalse(DecodeAttention.applies(torch.randn(2, 3, 1, 8), k, v, null), "3 heads over 2 groups");
                boolean was = LlamaJvmStep.enable(false);
                try {
                    assertFalse(DecodeAttention.applies(q, k, v, null), "KEEL_JVM_STEP off");
                } finally {
                    LlamaJvmStep.enable(was);
                }
            }
            assertFalse(DecodeAttention.applies(q, k, v, null), "with gradients");
        }
    }

    /**
     * Greedy decoding of four sequences at once, one shorter (so padded, and a mask over the keys), on libtorch's step
     * with this attention in it, gives the tokens of libtorch's attention for Llama-family and GPT-2 fixtures, in float32
     * (log-probabilities within 1e-4) and bfloat16.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"qwen2-tiny-bf16, F32", "qwen2-tiny-bf16, BF16", "gpt2-tiny, F32", "gpt2-tiny, BF16",
            "mistral-tiny-headdim, F32"})
    void greedyDecodingOfSeveralSequences_theTokensOfLibtorchsAttention(String name, DType dtype) {
        java.nio.file.Path dir = TestSupport.fixture("parity/" + name);
        long[] prompt = TestSupport.longRows(TestSupport.readJson(dir.resolve("reference.json")).get("input_ids")).get(0);
        long[] other = prompt.clone();
        other[other.length - 1] = (other[other.length - 1] + 1) % 50;
        long[] third = prompt.clone();
        third[0] = (third[0] + 7) % 50;
        long[] shorter = java.util.Arrays.copyOfRange(prompt, 2, prompt.length);       // padded: the mask's route
        List<long[]> prompts = List.of(prompt, other, third, shorter);
        SamplingConfig greedy = SamplingConfig.greedy(10, java.util.Set.of());
        CausalLM m = ModelFiles.load(dir, dtype, null);
        long before = DecodeAttention.calls();
        Generation on = BatchGenerator.generate(m, prompts, greedy, StopCriterion.NEVER, 0);
        assertTrue(DecodeAttention.calls() - before >= 9L * m.config().numLayers(), "every step after the prompt's");
        Generation off;
        boolean was = LlamaJvmStep.enable(false);
        try {
            off = BatchGenerator.generate(m, prompts, greedy, StopCriterion.NEVER, 0);
        } finally {
            LlamaJvmStep.enable(was);
        }
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(off.tokens().get(i), on.tokens().get(i), name + " " + dtype + ", sequence " + i);
            if (dtype == DType.F32) {
                for (int t = 0; t < off.logProbs().get(i).length; t++) {
                    assertEquals(off.logProbs().get(i)[t], on.logProbs().get(i)[t], 1e-4, "log-prob " + t);
                }
            }
        }
    }
}
