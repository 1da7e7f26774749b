package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class BradleyTerryTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    @Test
    void equalRewardsGiveLnTwo() {
        // r_w = r_l: −log σ(0) = ln 2 = 0.693147, whatever the common value
        float[] l = Tensors.toFloats(BradleyTerry.losses(t(0.7f, -3), t(0.7f, -3), null));
        assertArrayEquals(new float[] {0.693147f, 0.693147f}, l, 1e-5f);
    }

    @Test
    void marginShiftsTheLoss() {
        // r_w − r_l = 1 in every pair. no margin: −log σ(1) = 0.313262
        // m = 1: −log σ(0) = ln 2 = 0.693147; m = −1: −log σ(2) = ln(1 + e^−2) = 0.126928
        Tensor w = t(1.5f, 1.5f);
        Tensor l = t(0.5f, 0.5f);
        assertArrayEquals(new float[] {0.313262f, 0.313262f}, Tensors.toFloats(BradleyTerry.losses(w, l, null)), 1e-5f);
        assertArrayEquals(new float[] {0.693147f, 0.126928f},
                Tensors.toFloats(BradleyTerry.losses(w, l, t(1, -1))), 1e-5f);
    }

    @Test
    void centeringIsTheSquaredSumOfThePairsRewards() {
        // (1 + 2)² = 9, (−1 + 1)² = 0, (0.5 − 1.5)² = 1; TRL's term is c · mean = c · 10/3
        float[] c = Tensors.toFloats(BradleyTerry.centering(t(1, -1, 0.5f), t(2, 1, -1.5f)));
        assertArrayEquals(new float[] {9f, 0f, 1f}, c, 1e-6f);
    }

    @Test
    void lossIsStableAtHugeRewardGapsOfBothSigns() {
        // r_w − r_l = 1000: −log σ(1000) ≈ e^−1000 ≈ 0; r_w − r_l = −1000: −log σ(−1000) ≈ 1000
        Tensor w = t(1000, -1000).set_requires_grad(true);
        Tensor l = t(0, 0);
        Tensor loss = BradleyTerry.losses(w, l, null);
        float[] v = Tensors.toFloats(loss);
        assertEquals(0.0, v[0], 1e-6);
        assertEquals(1000.0, v[1], 1e-3);
        // d/d r_w = −σ(−(r_w − r_l)): ≈ 0 and ≈ −1, finite
        loss.sum().backward();
        assertArrayEquals(new float[] {0f, -1f}, Tensors.toFloats(w.grad()), 1e-6f);
    }

    @Test
    void gradientRaisesChosenAndLowersRejectedReward() {
        // equal rewards: d/d r_w = −σ(0) = −0.5, d/d r_l = +0.5
        Tensor w = t(0.2f).set_requires_grad(true);
        Tensor l = t(0.2f).set_requires_grad(true);
        BradleyTerry.losses(w, l, null).sum().backward();
        assertEquals(-0.5, Tensors.toFloats(w.grad())[0], 1e-6);
        assertEquals(0.5, Tensors.toFloats(l.grad())[0], 1e-6);
    }

    @Test
    void metricSumsAddAccuracyMarginAndMeanReward() {
        // pairs (r_w, r_l) = (2, 1) right, (0, 0) tie → wrong, (1, 3) wrong
        Map<String, Double> m = BradleyTerry.metricSums(t(2, 0, 1), t(1, 0, 3));
        assertEquals(List.of("accuracy", "margin", "mean_reward"), List.copyOf(m.keySet()));
        assertEquals(1.0, m.get("accuracy"), 0.0);
        assertEquals(-1.0, m.get("margin"), 1e-9);          // 1 + 0 − 2
        // (2+1)/2 + (0+0)/2 + (1+3)/2 = 1.5 + 0 + 2 = 3.5; / 3 pairs = 7/6 = the mean of {2, 0, 1, 1, 0, 3}
        assertEquals(3.5, m.get("mean_reward"), 1e-9);
    }

    @Test
    void minAndMaxRewardRangeOverChosenAndRejected() {
        assertEquals(-2.0, BradleyTerry.minReward(t(2, 0, 1), t(1, -2, 3)), 0.0);
        assertEquals(3.0, BradleyTerry.maxReward(t(2, 0, 1), t(1, -2, 3)), 0.0);
    }

    @Test
    void mismatchedShapesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BradleyTerry.losses(t(1, 2), t(1), null));
        assertTrue(e.getMessage().contains("[2]") && e.getMessage().contains("[1]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BradleyTerry.losses(t(1, 2), t(1, 2), t(1)));
        assertThrows(IllegalArgumentException.class, () -> BradleyTerry.centering(t(1), t(1, 2)));
    }
}
