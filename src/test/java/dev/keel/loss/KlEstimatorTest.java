package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class KlEstimatorTest {
    private static final double EPS = 1e-6;
    private static final float LN2 = 0.6931472f;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, 1, v.length);
    }

    @Test
    void bothEstimatorsAreZeroWhenThePoliciesAgree() {
        // l = 0: k1 = 0; k3 = (e^0 − 1) + 0 = 0
        Tensor p = t(-1.5f, -0.2f);
        for (KlEstimator e : KlEstimator.values()) {
            float[] kl = Tensors.toFloats(e.perToken(p, p));
            assertEquals(0.0, kl[0], EPS, e.trlName());
            assertEquals(0.0, kl[1], EPS, e.trlName());
        }
    }

    @Test
    void k1IsTheLogRatio() {
        // l = log π_old − log π_ref: −1 − (−1 − ln 2) = ln 2 = 0.693147; −1 − (−1 + ln 2) = −0.693147
        float[] kl = Tensors.toFloats(KlEstimator.K1.perToken(t(-1, -1), t(-1 - LN2, -1 + LN2)));
        assertEquals(0.693147, kl[0], EPS);
        assertEquals(-0.693147, kl[1], EPS);
    }

    @Test
    void k3IsExpOfMinusLMinusOnePlusL() {
        // l = ln 2: (e^−ln2 − 1) + ln 2 = (0.5 − 1) + 0.693147 = 0.193147
        // l = −ln 2: (e^ln2 − 1) − ln 2 = (2 − 1) − 0.693147 = 0.306853
        float[] kl = Tensors.toFloats(KlEstimator.K3.perToken(t(-1, -1), t(-1 - LN2, -1 + LN2)));
        assertEquals(0.193147, kl[0], EPS);
        assertEquals(0.306853, kl[1], EPS);
    }

    @Test
    void k3IsNeverNegativeWhereK1Is() {
        Tensor old = t(-3, -2, -1, -0.5f, -4);
        Tensor ref = t(-1, -2.5f, -0.2f, -3, -0.01f);
        float[] k1 = Tensors.toFloats(KlEstimator.K1.perToken(old, ref));
        float[] k3 = Tensors.toFloats(KlEstimator.K3.perToken(old, ref));
        assertTrue(k1[0] < 0, "k1 = " + k1[0]);
        for (float v : k3) {
            assertTrue(v >= 0, "k3 = " + v);
        }
    }

    @Test
    void k3IsAccurateForTinyLogRatios() {
        // l = 1e-4: k3 = l²/2 − l³/6 + … = 5e-9 − 1.7e-13 ≈ 5.0e-9 (expm1 avoids the cancellation of e^−l − 1)
        Tensor old = Tensors.floats(new float[] {1e-4f}, 1, 1);
        Tensor ref = Tensors.floats(new float[] {0f}, 1, 1);
        assertEquals(5.0e-9, Tensors.toFloats(KlEstimator.K3.perToken(old, ref))[0], 5e-11);
    }

    @Test
    void k3GradientIsOneMinusTheInverseRatio() {
        // d k3 / d log π_old = 1 − e^−l; at l = ln 2: 1 − 0.5 = 0.5
        Tensor old = t(-1).set_requires_grad(true);
        KlEstimator.K3.perToken(old, t(-1 - LN2)).sum().backward();
        assertEquals(0.5, Tensors.toFloats(old.grad())[0], EPS);
    }

    @Test
    void parseAcceptsTrlNamesIgnoringCase() {
        assertEquals(KlEstimator.K1, KlEstimator.parse("k1"));
        assertEquals(KlEstimator.K3, KlEstimator.parse(" K3 "));
        assertEquals("k1", KlEstimator.K1.trlName());
        assertEquals("k3", KlEstimator.K3.trlName());
    }

    @Test
    void parseOfAnUnknownNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KlEstimator.parse("k2"));
        assertTrue(e.getMessage().contains("'k2'") && e.getMessage().contains("k1, k3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KlEstimator.parse(null));
    }
}
