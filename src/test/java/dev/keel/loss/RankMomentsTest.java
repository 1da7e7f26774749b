package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/** Batch statistics of RLOO and GRPO from moments summed over ranks, by hand and against one process's. */
class RankMomentsTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theStdOfSummedMomentsIsTheUnbiasedOne() {
        // {1, 2, 3, 4}: n 4, Σ 10, Σx² 30; mean 2.5, variance (30 - 4 · 6.25) / 3 = 5/3
        assertEquals(Math.sqrt(5.0 / 3), Masked.std(new double[] {4, 10, 30}), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> Masked.std(new double[] {1, 3, 9}));
    }

    @Test
    void rlooNormalisesEachRanksHalfWithTheWholeBatchsMoments() {
        try (PointerScope s = new PointerScope()) {
            Tensor a = Tensors.floats(new float[] {1, 2, 3, 4}, 4);
            float[] whole = Tensors.toFloats(Rloo.normalize(a));
            double[] m = {4, 10, 30};
            float[] first = Tensors.toFloats(Rloo.normalize(a.narrow(0, 0, 2), m));
            float[] second = Tensors.toFloats(Rloo.normalize(a.narrow(0, 2, 2), m));
            double sd = Math.sqrt(5.0 / 3) + 1e-4;
            assertEquals((1 - 2.5) / sd, first[0], 1e-6);
            assertEquals((4 - 2.5) / sd, second[1], 1e-6);
            assertEquals(whole[1], first[1], 1e-6);
            assertEquals(whole[2], second[0], 1e-6);
        }
    }

    @Test
    void grpoScalesEachRanksGroupsByTheWholeBatchsStd() {
        try (PointerScope s = new PointerScope()) {
            // two groups of k = 2: {1, 3} and {2, 6}; batch mean 3, variance (1 + 9 + 4 + 36 - 4 · 9) / 3 = 14/3
            Tensor scores = Tensors.floats(new float[] {1, 3, 2, 6}, 4);
            float[] whole = Tensors.toFloats(Grpo.advantages(scores, 2, Grpo.ScaleRewards.BATCH));
            double[] m = {4, 12, 50};
            float[] second = Tensors.toFloats(Grpo.advantages(scores.narrow(0, 2, 2), 2, Grpo.ScaleRewards.BATCH, m));
            double sd = Math.sqrt(14.0 / 3) + 1e-4;
            assertEquals((2 - 4) / sd, second[0], 1e-6);
            assertEquals(whole[3], second[1], 1e-6);
            assertEquals(whole[0], Tensors.toFloats(Grpo.advantages(scores.narrow(0, 0, 2), 2,
                    Grpo.ScaleRewards.BATCH, m))[0], 1e-6);
        }
    }
}
