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

class PpoLossTest {
    private static final double EPS = 1e-5;
    private static final double CLIP = 0.2;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor row(float... v) {
        return Tensors.floats(v, 1, v.length);
    }

    /** log π_old = −1 everywhere and log π_θ = −1 + ln ρ, so that exp(log π_θ − log π_old) = ρ. */
    private static Tensor newLogps(double... ratios) {
        float[] v = new float[ratios.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (-1 + Math.log(ratios[i]));
        }
        return row(v);
    }

    private static Tensor oldLogps(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, -1f);
        return row(v);
    }

    private static PpoLoss.Policy onePolicyToken(double ratio, float advantage) {
        return PpoLoss.policy(newLogps(ratio), oldLogps(1), row(advantage), row(1), CLIP);
    }

    @Test
    void insideTheClipRangeThePolicyLossIsMinusAdvantageTimesRatio() {
        // ρ = 1.1 ∈ [0.8, 1.2], A = 1: max(−1.1, −1.1) = −1.1, not clipped
        PpoLoss.Policy p = onePolicyToken(1.1, 1);
        assertEquals(-1.1, Tensors.item(p.loss()), EPS);
        assertEquals(0.0, Tensors.item(p.clipFrac()), 0.0);
        // A = −1: max(1.1, 1.1) = 1.1
        assertEquals(1.1, Tensors.item(onePolicyToken(1.1, -1).loss()), EPS);
    }

    @Test
    void positiveAdvantageIsClippedAboveOnePlusEpsilon() {
        // ρ = 1.5, A = 1: max(−1.5, −1·1.2) = −1.2, the clipped term counts
        PpoLoss.Policy p = onePolicyToken(1.5, 1);
        assertEquals(-1.2, Tensors.item(p.loss()), EPS);
        assertEquals(1.0, Tensors.item(p.clipFrac()), 0.0);
    }

    @Test
    void negativeAdvantageIsClippedBelowOneMinusEpsilon() {
        // ρ = 0.5, A = −1: max(0.5, 0.8) = 0.8, the clipped term counts
        PpoLoss.Policy p = onePolicyToken(0.5, -1);
        assertEquals(0.8, Tensors.item(p.loss()), EPS);
        assertEquals(1.0, Tensors.item(p.clipFrac()), 0.0);
    }

    @Test
    void thePessimisticBoundKeepsTheUnclippedTermWhenItIsWorse() {
        // ρ = 1.5, A = −1: max(1.5, 1.2) = 1.5, not clipped (moving away from the old policy never pays)
        PpoLoss.Policy up = onePolicyToken(1.5, -1);
        assertEquals(1.5, Tensors.item(up.loss()), EPS);
        assertEquals(0.0, Tensors.item(up.clipFrac()), 0.0);
        // ρ = 0.5, A = 2: max(−1.0, −1.6) = −1.0, not clipped
        PpoLoss.Policy down = onePolicyToken(0.5, 2);
        assertEquals(-1.0, Tensors.item(down.loss()), EPS);
        assertEquals(0.0, Tensors.item(down.clipFrac()), 0.0);
    }

    @Test
    void policyLossAndClipFracAreMeansOverTheResponseTokens() {
        // the five cases above in one row: per-token −1.1, −1.2, 0.8, 1.5, −1.0 → loss = −1.0 / 5 = −0.2
        // clipped: tokens 1 and 2 → clipFrac = 2 / 5 = 0.4
        // approxKl = ½ mean(l²), l = ln 1.1, ln 1.5, ln 0.5, ln 1.5, ln 0.5
        //          = ½ (0.009084 + 0.164402 + 0.480453 + 0.164402 + 0.480453) / 5 = 0.129879
        Tensor logpNew = newLogps(1.1, 1.5, 0.5, 1.5, 0.5).set_requires_grad(true);
        PpoLoss.Policy p = PpoLoss.policy(logpNew, oldLogps(5), row(1, 1, -1, -1, 2), row(1, 1, 1, 1, 1), CLIP);
        assertEquals(-0.2, Tensors.item(p.loss()), EPS);
        assertEquals(0.4, Tensors.item(p.clipFrac()), 1e-6);
        assertEquals(0.129879, Tensors.item(p.approxKl()), EPS);
        // gradient of the mean: −A ρ / 5 where the unclipped term counts, 0 where the clipped one does
        // token 0: −1.1/5 = −0.22; tokens 1, 2: 0; token 3: 1.5/5 = 0.3; token 4: −2·0.5/5 = −0.2
        p.loss().backward();
        assertArrayEquals(new float[] {-0.22f, 0f, 0f, 0.3f, -0.2f}, Tensors.toFloats(logpNew.grad()), 1e-5f);
    }

    @Test
    void paddingIsIgnoredWhateverItsLogProbs() {
        // mask 1, 1, 0, 0; padded log-probs 1e4 would overflow exp to ∞; the real tokens are ρ = 1.1, A = 1 and
        // ρ = 1.5, A = 1 → (−1.1 − 1.2) / 2 = −1.15
        Tensor logpNew = row((float) (-1 + Math.log(1.1)), (float) (-1 + Math.log(1.5)), 1e4f, 1e4f)
                .set_requires_grad(true);
        PpoLoss.Policy p = PpoLoss.policy(logpNew, row(-1, -1, -1e4f, -1), row(1, 1, 7, 7), row(1, 1, 0, 0), CLIP);
        assertEquals(-1.15, Tensors.item(p.loss()), EPS);
        assertEquals(0.5, Tensors.item(p.clipFrac()), 1e-6);
        p.loss().backward();
        for (float g : Tensors.toFloats(logpNew.grad())) {
            assertTrue(Float.isFinite(g), "gradient " + g);
        }
    }

    @Test
    void approxKlIsTrlsPlainMeanOverAllPositions() {
        // TRL: 0.5 * (logprobs_diff ** 2).mean() with the difference 0 at padding:
        // l = ln 2, −ln 2, 0, 0 → ½ (0.480453 + 0.480453) / 4 = 0.120113 (not / 2: padding dilutes it)
        float ln2 = (float) Math.log(2);
        PpoLoss.Policy p = PpoLoss.policy(row(-1 + ln2, -1 - ln2, 5, 5), row(-1, -1, -3, -3), row(1, 1, 0, 0),
                row(1, 1, 0, 0), CLIP);
        assertEquals(0.120113, Tensors.item(p.approxKl()), EPS);
    }

    @Test
    void policyLossCarriesTheGraphAndDiagnosticsAreDetached() {
        Tensor logpNew = newLogps(1.1, 0.9).set_requires_grad(true);
        Tensor logpOld = oldLogps(2).set_requires_grad(true);
        PpoLoss.Policy p = PpoLoss.policy(logpNew, logpOld, row(1, -1), row(1, 1), CLIP);
        assertTrue(p.loss().requires_grad());
        assertFalse(p.clipFrac().requires_grad());
        assertFalse(p.approxKl().requires_grad());
        p.loss().backward();
        assertFalse(logpOld.grad().defined(), "no gradient may reach the rollout log-probs");
    }

    private static PpoLoss.Value oneValueToken(float v, float vOld, float ret) {
        return PpoLoss.value(row(v), row(vOld), row(ret), row(1), CLIP);
    }

    @Test
    void insideTheValueClipRangeTheLossIsHalfTheSquaredError() {
        // V = 1.1, V_old = 1.0 (clip range [0.8, 1.2]), R = 2: ½ (1.1 − 2)² = ½ 0.81 = 0.405, not clipped
        PpoLoss.Value v = oneValueToken(1.1f, 1.0f, 2.0f);
        assertEquals(0.405, Tensors.item(v.loss()), EPS);
        assertEquals(0.0, Tensors.item(v.clipFrac()), 0.0);
    }

    @Test
    void outsideTheValueClipRangeTheLargerLossCounts() {
        // V = 1.5, V_old = 1.0 → V_clip = 1.2; R = 2: (1.5 − 2)² = 0.25, (1.2 − 2)² = 0.64 → ½ 0.64 = 0.32, clipped
        PpoLoss.Value worse = oneValueToken(1.5f, 1.0f, 2.0f);
        assertEquals(0.32, Tensors.item(worse.loss()), EPS);
        assertEquals(1.0, Tensors.item(worse.clipFrac()), 0.0);
        // R = 1: (1.5 − 1)² = 0.25, (1.2 − 1)² = 0.04 → ½ 0.25 = 0.125, not clipped
        PpoLoss.Value better = oneValueToken(1.5f, 1.0f, 1.0f);
        assertEquals(0.125, Tensors.item(better.loss()), EPS);
        assertEquals(0.0, Tensors.item(better.clipFrac()), 0.0);
    }

    @Test
    void valueLossIsAMaskedMeanWithGradientOnlyThroughTheUnclippedTerm() {
        // tokens: (V 1.1, R 2) → 0.81 unclipped; (V 1.5, R 2) → 0.64 clipped; (V 1.5, R 1) → 0.25 unclipped;
        // a padded 4th token with garbage. ½ (0.81 + 0.64 + 0.25) / 3 = 0.283333; clipFrac = 1/3
        // d/dV: (V − R)/3 where the unclipped term counts: −0.9/3 = −0.3; 0; 0.5/3 = 0.166667; padding 0
        Tensor vNew = row(1.1f, 1.5f, 1.5f, 1e30f).set_requires_grad(true);
        PpoLoss.Value v = PpoLoss.value(vNew, row(1, 1, 1, -1e30f), row(2, 2, 1, 3), row(1, 1, 1, 0), CLIP);
        assertEquals(0.283333, Tensors.item(v.loss()), EPS);
        assertEquals(1.0 / 3, Tensors.item(v.clipFrac()), 1e-6);
        assertTrue(v.loss().requires_grad());
        assertFalse(v.clipFrac().requires_grad());
        v.loss().backward();
        assertArrayEquals(new float[] {-0.3f, 0f, 0.166667f, 0f}, Tensors.toFloats(vNew.grad()), 1e-5f);
    }

    @Test
    void invalidClipRangesAndShapesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PpoLoss.policy(row(0), row(0), row(1), row(1), 0.0));
        assertTrue(e.getMessage().contains("--cliprange"), e.getMessage());
        IllegalArgumentException ev = assertThrows(IllegalArgumentException.class,
                () -> PpoLoss.value(row(0), row(0), row(1), row(1), Double.NaN));
        assertTrue(ev.getMessage().contains("--cliprange-value"), ev.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PpoLoss.policy(row(0, 0), row(0), row(1), row(1), 0.2));
        assertThrows(IllegalArgumentException.class, () -> PpoLoss.policy(Tensors.floats(new float[] {0}, 1),
                Tensors.floats(new float[] {0}, 1), Tensors.floats(new float[] {1}, 1),
                Tensors.floats(new float[] {1}, 1), 0.2));
    }

    @Test
    void meanRatioIsTheMaskedMeanOfExpLogRatio() {
        // ratios e^0 = 1 and e^ln 2 = 2 on the two response tokens, the padded third ignored: 1.5
        Tensor logpNew = Tensors.floats(new float[] {0, (float) Math.log(2), 9}, 1, 3);
        Tensor logpOld = Tensors.floats(new float[] {0, 0, 0}, 1, 3);
        Tensor mask = Tensors.floats(new float[] {1, 1, 0}, 1, 3);
        assertEquals(1.5, Tensors.item(PpoLoss.meanRatio(logpNew, logpOld, mask)), 1e-6);
    }
}
