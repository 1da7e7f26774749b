package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class LogProbsTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void uniformLogitsGiveMinusLogVocabularyPerToken() {
        // V = 4, all logits equal: every token has log-prob -ln 4 = -1.386294
        Tensor logits = Tensors.floats(new float[2 * 4], 1, 2, 4);
        Tensor labels = Tensors.longs(new long[][] {{3, 1}}, null);
        assertArrayEquals(new float[] {-1.386294f, -1.386294f},
                Tensors.toFloats(LogProbs.tokenLogProbs(logits, labels)), 1e-6f);
    }

    @Test
    void logitsZeroAndLnThreeGiveOneQuarterAndThreeQuarters() {
        // softmax([0, ln 3]) = [1/4, 3/4]: log-probs ln 0.25 = -1.386294 and ln 0.75 = -0.287682
        Tensor logits = Tensors.floats(new float[] {0f, (float) Math.log(3), 0f, (float) Math.log(3)}, 1, 2, 2);
        Tensor labels = Tensors.longs(new long[][] {{0, 1}}, null);
        assertArrayEquals(new float[] {-1.386294f, -0.287682f},
                Tensors.toFloats(LogProbs.tokenLogProbs(logits, labels)), 1e-6f);
    }

    @Test
    void sequenceSumsOnlyMaskedTokensAndShiftsByOne() {
        // ids [a, b, c, pad], mask marks b and c as the completion. Logits at position t predict token t+1.
        // Position 0 predicts b with p = 3/4, position 1 predicts c with p = 1/4, position 2 is ignored.
        float l3 = (float) Math.log(3);
        Tensor logits = Tensors.floats(new float[] {
            0f, l3,    // position 0: token 1 (b) has 3/4
            l3, 0f,    // position 1: token 1 (c) has 1/4
            100f, 0f,  // position 2: predicts the pad; must not count
            0f, 0f,
        }, 1, 4, 2);
        Tensor ids = Tensors.longs(new long[][] {{0, 1, 1, 1}}, null);
        Tensor mask = Tensors.longs(new long[][] {{0, 1, 1, 0}}, null);
        LogProbs.Sums s = LogProbs.sequence(logits, ids, mask);
        // ln(3/4) + ln(1/4) = -0.287682 - 1.386294 = -1.673976
        assertEquals(-1.673976, Tensors.toFloats(s.logProbs())[0], 1e-6);
        assertEquals(2, Tensors.toLongs(s.counts())[0]);
    }

    @Test
    void entropyOfAQuarterAndThreeQuarters() {
        // logits (0, ln 3): p = (1/4, 3/4); H = ¼ ln 4 + ¾ ln(4/3) = 0.346574 + 0.215762 = 0.562335
        Tensor logits = Tensors.floats(new float[] {0, (float) Math.log(3)}, 1, 2);
        assertEquals(0.562335, Tensors.item(LogProbs.entropy(logits)), 1e-5);
    }

    @Test
    void entropyOfAUniformDistributionIsLnV() {
        // four equal logits: H = ln 4 = 1.386294, at every position
        Tensor logits = Tensors.floats(new float[] {3, 3, 3, 3, -1, -1, -1, -1}, 2, 4);
        float[] h = Tensors.toFloats(LogProbs.entropy(logits));
        assertEquals(1.386294, h[0], 1e-5);
        assertEquals(1.386294, h[1], 1e-5);
    }
}
