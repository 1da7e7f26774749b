package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class RlooTest {
    private static final float EPS = 1e-6f;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    @Test
    void leaveOneOutBaselineOfOneZeroZeroOne() {
        // k = 4, Σ = 2. sample 0: baseline (2 − 1)/3 = 1/3, A = 1 − 1/3 = 2/3
        //               sample 1: baseline (2 − 0)/3 = 2/3, A = 0 − 2/3 = −2/3; likewise samples 3 and 2
        float third = 1f / 3;
        assertArrayEquals(new float[] {2 * third, -2 * third, -2 * third, 2 * third},
                Tensors.toFloats(Rloo.advantages(t(1, 0, 0, 1), 4)), EPS);
    }

    @Test
    void groupsArePromptMajor() {
        // k = 2: prompt 0 has 3, 1 → A = 3 − 1, 1 − 3 = 2, −2; prompt 1 has 0, 4 → −4, 4
        assertArrayEquals(new float[] {2, -2, -4, 4}, Tensors.toFloats(Rloo.advantages(t(3, 1, 0, 4), 2)), EPS);
    }

    @Test
    void advantagesAreKOverKMinusOneTimesTheDeviationFromTheGroupMean() {
        // k = 3, scores 1, 2, 6: mean 3, A = 3/2 · (−2, −1, 3) = −3, −1.5, 4.5 (and they sum to 0)
        // check: sample 0, baseline (9 − 1)/2 = 4, A = 1 − 4 = −3
        assertArrayEquals(new float[] {-3, -1.5f, 4.5f}, Tensors.toFloats(Rloo.advantages(t(1, 2, 6), 3)), 1e-5f);
    }

    @Test
    void advantagesAreDetached() {
        Tensor s = t(1, 0).set_requires_grad(true);
        assertFalse(Rloo.advantages(s, 2).requires_grad());
    }

    @Test
    void fewerThanTwoSamplesOrARaggedLayoutIsRejected() {
        IllegalArgumentException one = assertThrows(IllegalArgumentException.class, () -> Rloo.advantages(t(1, 2), 1));
        assertTrue(one.getMessage().contains("at least 2"), one.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Rloo.advantages(t(1, 2, 3), 2));
        assertThrows(IllegalArgumentException.class,
                () -> Rloo.advantages(Tensors.floats(new float[] {1, 2, 3, 4}, 2, 2), 2));
    }

    @Test
    void sequenceRewardSubtractsBetaTimesTheSummedKlOfTheResponseTokens() {
        // β = 0.5. row 0: Σ kl = 0.1 + 0.2 + 0.3 = 0.6 → 1 − 0.5·0.6 = 0.7
        //          row 1: only the first token counts: 0.5 → 2 − 0.5·0.5 = 1.75 (the 9 and ∞ are padding)
        Tensor kl = Tensors.floats(new float[] {0.1f, 0.2f, 0.3f, 0.5f, 9f, Float.POSITIVE_INFINITY}, 2, 3);
        Tensor mask = Tensors.floats(new float[] {1, 1, 1, 1, 0, 0}, 2, 3);
        Tensor r = Rloo.sequenceReward(t(1, 2), kl, mask, 0.5);
        assertArrayEquals(new float[] {0.7f, 1.75f}, Tensors.toFloats(r), 1e-6f);
        assertFalse(r.requires_grad());
    }

    @Test
    void sequenceRewardWithZeroBetaIsTheScore() {
        Tensor kl = Tensors.floats(new float[] {3, 4}, 1, 2);
        assertEquals(1.5f, Tensors.toFloats(Rloo.sequenceReward(t(1.5f), kl, Tensors.floats(new float[] {1, 1}, 1, 2),
                0.0))[0], EPS);
    }

    @Test
    void sequenceRewardRejectsMismatchedShapesAndNegativeBeta() {
        Tensor kl = Tensors.floats(new float[] {0, 0}, 1, 2);
        Tensor mask = Tensors.floats(new float[] {1, 1}, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> Rloo.sequenceReward(t(1, 2), kl, mask, 0.1));
        assertThrows(IllegalArgumentException.class, () -> Rloo.sequenceReward(t(1), kl, mask, -0.1));
    }

    @Test
    void policyLossUsesTheRatioOfMaskedSequenceSums() {
        // new Σ = −1 − 2 = −3, old Σ = −1.5 − 2 = −3.5 (the third token is masked out, whatever it holds);
        // ρ = e^0.5 = 1.648721 > 1.2, A = 1: max(−ρ, −1.2) = −1.2, clipped; approx KL = ½ · 0.5² = 0.125
        Tensor logpNew = Tensors.floats(new float[] {-1, -2, -50}, 1, 3);
        Tensor logpOld = Tensors.floats(new float[] {-1.5f, -2, -70}, 1, 3);
        Tensor mask = Tensors.floats(new float[] {1, 1, 0}, 1, 3);
        PpoLoss.Policy p = Rloo.policyLoss(logpNew, logpOld, t(1), mask, 0.2);
        assertEquals(-1.2, Tensors.item(p.loss()), 1e-6);
        assertEquals(1.0, Tensors.item(p.clipFrac()), 1e-6);
        assertEquals(0.125, Tensors.item(p.approxKl()), 1e-6);
    }

    @Test
    void policyLossAtRatioOneIsMinusTheMeanAdvantage() {
        // ρ = 1 for every sequence: loss = mean(−A) = −(1 − 1 + 2)/3 = −2/3, nothing clipped
        Tensor logp = Tensors.floats(new float[] {-1, -2, -3, -4, -5, -6}, 3, 2);
        Tensor mask = Tensors.floats(new float[] {1, 1, 1, 0, 1, 1}, 3, 2);
        PpoLoss.Policy p = Rloo.policyLoss(logp, logp, t(1, -1, 2), mask, 0.2);
        assertEquals(-2.0 / 3, Tensors.item(p.loss()), 1e-6);
        assertEquals(0.0, Tensors.item(p.clipFrac()), 1e-6);
    }

    @Test
    void normalizedAdvantagesAreStandardisedOverTheBatch() {
        // 1, −1, 3, −3: mean 0; unbiased var (1 + 1 + 9 + 9) / 3 = 6.666667, std 2.581989; / 2.582089
        assertArrayEquals(new float[] {0.387283f, -0.387283f, 1.161849f, -1.161849f},
                Tensors.toFloats(Rloo.normalize(t(1, -1, 3, -3))), 1e-5f);
        assertThrows(IllegalArgumentException.class, () -> Rloo.normalize(t(1)));
    }
}
