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
import dev.keel.train.KtoConfig;

class KtoLossTest {
    private static final double EPS = 1e-5;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    @Test
    void atZeroLogRatioAndZeroKlEveryLossIsAHalf() {
        // c = 0, z0 = 0: desirable 1 − σ(0) = 0.5, undesirable 1 − σ(0) = 0.5
        KtoLoss.Result r = KtoLoss.compute(t(-4, -6), t(-4, -6), t(1, 0), t(-9, -9), t(-9, -9), 0.1, 1, 1);
        assertArrayEquals(new float[] {0.5f, 0.5f}, Tensors.toFloats(r.losses()), (float) EPS);
        assertEquals(0.0, r.kl(), 0);
    }

    @Test
    void theKlReferencePointShiftsBothSides() {
        // β = 1; KL log-ratios 0.5 and 1.5, mean z0 = 1.
        // desirable, c = 1: 1 − σ(1 − 1) = 0.5;  desirable, c = 3: 1 − σ(3 − 1) = 1 − 0.880797 = 0.119203
        // undesirable, c = 1: 1 − σ(1 − 1) = 0.5; undesirable, c = −1: 1 − σ(1 − (−1)) = 0.119203
        KtoLoss.Result r = KtoLoss.compute(t(-9, -7, -9, -11), t(-10, -10, -10, -10), t(1, 1, 0, 0),
                t(-19.5f, -18.5f), t(-20, -20), 1.0, 1, 1);
        assertEquals(1.0, r.kl(), EPS);
        assertArrayEquals(new float[] {0.5f, 0.119203f, 0.5f, 0.119203f}, Tensors.toFloats(r.losses()), (float) EPS);
        // rewards β·c: 1, 3, 1, −1
        assertArrayEquals(new float[] {1, 3, 1, -1}, Tensors.toFloats(r.rewards()), (float) EPS);
    }

    @Test
    void aNegativeKlEstimateIsClampedAtZero() {
        // mean KL log-ratio (−1 − 3) / 2 = −2 < 0 ⇒ z0 = 0; desirable c = 0 ⇒ 1 − σ(0) = 0.5
        KtoLoss.Result r = KtoLoss.compute(t(-5), t(-5), t(1), t(-11, -13), t(-10, -10), 0.1, 1, 1);
        assertEquals(0.0, r.kl(), 0);
        assertEquals(0.5, Tensors.toFloats(r.losses())[0], EPS);
    }

    @Test
    void theWeightsScaleTheirOwnSide() {
        // c = 0, z0 = 0: λ_D · 0.5 = 2 · 0.5 = 1.0, λ_U · 0.5 = 0.5 · 0.5 = 0.25
        KtoLoss.Result r = KtoLoss.compute(t(-1, -1), t(-1, -1), t(1, 0), t(-2, -2), t(-2, -2), 0.1, 2.0, 0.5);
        assertArrayEquals(new float[] {1.0f, 0.25f}, Tensors.toFloats(r.losses()), (float) EPS);
    }

    @Test
    void theGradientRaisesDesirableAndLowersUndesirableLogProbsAndSkipsTheKlPairs() {
        // d/dc [1 − σ(β(c − z0))] = −β σ(1 − σ) = −0.1 · 0.25 = −0.025 at c = z0 = 0 (descent raises c);
        // d/dc [1 − σ(β(z0 − c))] = +0.025 (descent lowers c). The KL pairs are detached: no gradient reaches them.
        Tensor policy = t(-3, -3);
        policy.set_requires_grad(true);
        Tensor policyKl = t(-8, -8);
        policyKl.set_requires_grad(true);
        KtoLoss.compute(policy, t(-3, -3), t(1, 0), policyKl, t(-8, -8), 0.1, 1, 1).losses().sum().backward();
        assertArrayEquals(new float[] {-0.025f, 0.025f}, Tensors.toFloats(policy.grad()), 1e-6f);
        assertFalse(policyKl.grad().defined(), "the KL estimate is detached");
    }

    @Test
    void mismatchedCompletionsPairEachPromptWithThePreviousExamplesCompletion() {
        // TRL's _get_kl_dataset: [y_n] + [y_1 .. y_{n−1}]: example 0 takes y_2, example 1 takes y_0, example 2 takes y_1
        assertArrayEquals(new int[] {2, 0, 1}, KtoLoss.mismatchedCompletions(3));
        assertArrayEquals(new int[] {1, 0}, KtoLoss.mismatchedCompletions(2));
        assertThrows(IllegalArgumentException.class, () -> KtoLoss.mismatchedCompletions(1));
    }

    @Test
    void settingsThatAreNotPositiveAreRefusedNamingTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new KtoConfig(0.1, 0, 1));
        assertTrue(e.getMessage().contains("--desirable-weight"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KtoConfig(-1, 1, 1));
        assertTrue(e.getMessage().contains("--beta"), e.getMessage());
    }

    @Test
    void unbalancedDataWithUnitWeightsGetsTrlsAdvice() {
        // 100 desirable, 300 undesirable, weights 1 and 1 (TRL, KTO paper Eq. 8):
        // desirable weight within [300·1/100, 3 · 1.33] = [3.0, 3.99], or undesirable within [100/300/1.33, 100/300]
        // = [0.250627.., 0.333..] → rounded [0.25, 0.33]; neither weight is in its range ⇒ a warning naming both ranges
        String w = KtoConfig.defaults().weightAdvice(100, 300).orElseThrow();
        assertTrue(w.contains("[3.0, 3.99]") && w.contains("[0.25, 0.33]"), w);
        assertTrue(KtoConfig.defaults().withWeights(1.0, 0.3).weightAdvice(100, 300).isEmpty());
        assertTrue(KtoConfig.defaults().weightAdvice(200, 200).isEmpty());
    }
}
