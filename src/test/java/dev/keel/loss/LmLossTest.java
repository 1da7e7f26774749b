package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class LmLossTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void uniformLogitsGiveLnVocabularyPerCountedToken() {
        // V = 8, uniform: every counted token costs ln 8 = 2.079442; 3 counted tokens -> sum 6.238325
        Tensor logits = Tensors.floats(new float[2 * 4 * 8], 2, 4, 8);
        Tensor ids = Tensors.longs(new long[][] {{1, 2, 3, 4}, {5, 6, 7, 0}}, null);
        // row 0 counts tokens 2 and 3 (positions 1, 2); row 1 counts token 6 (position 1); mask[0] never counts
        Tensor mask = Tensors.longs(new long[][] {{1, 1, 1, 0}, {0, 1, 0, 0}}, null);
        LmLoss.Sums s = LmLoss.sums(logits, ids, mask);
        assertEquals(3, Tensors.toLongs(s.count())[0]);
        assertEquals(6.238325, Tensors.item(s.lossSum()), 1e-5);
        assertEquals(2.079442, Tensors.item(LmLoss.mean(s)), 1e-6);
    }

    @Test
    void accuracyCountsArgmaxHitsOnCountedTokensOnly() {
        // V = 2. position 0 predicts id[1] = 1 with logits (0, 5): hit; position 1 predicts id[2] = 0 with
        // logits (0, 5): miss; position 2 predicts a pad (mask 0) with logits (5, 0): ignored.
        Tensor logits = Tensors.floats(new float[] {0, 5, 0, 5, 5, 0, 0, 0}, 1, 4, 2);
        Tensor ids = Tensors.longs(new long[][] {{0, 1, 0, 0}}, null);
        Tensor mask = Tensors.longs(new long[][] {{0, 1, 1, 0}}, null);
        LmLoss.Sums s = LmLoss.sums(logits, ids, mask);
        assertEquals(1, Tensors.toLongs(s.correct())[0]);
        // -log softmax(0,5)[1] = ln(1 + e^-5) = 0.006715; -log softmax(0,5)[0] = 5.006715; sum 5.013430
        assertEquals(5.013430, Tensors.item(s.lossSum()), 1e-5);
    }
}
