package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class MaskedTest {
    private static final double EPS = 1e-5;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /**
     * Two rows; the mask selects 1, 2, 3 in row 0 and 5, 6 in row 1. The masked-out entries (100, 99, 99) are
     * far from the rest so that any leak shows.
     * Selected: n = 5, Σ = 17, μ = 3.4; deviations −2.4, −1.4, −0.4, 1.6, 2.6; squares 5.76 + 1.96 + 0.16 + 2.56
     * + 6.76 = 17.2; biased σ² = 17.2 / 5 = 3.44, unbiased σ² = 17.2 / 4 = 4.3.
     */
    private static Tensor x() {
        return Tensors.floats(new float[] {1, 2, 3, 100, 5, 6, 99, 99}, 2, 4);
    }

    private static Tensor mask() {
        return Tensors.floats(new float[] {1, 1, 1, 0, 1, 1, 0, 0}, 2, 4);
    }

    private static double item(Tensor t) {
        return Tensors.item(t);
    }

    @Test
    void meanIsTheSumOfTheSelectedEntriesOverTheirCount() {
        // 17 / 5 = 3.4
        assertEquals(3.4, item(Masked.mean(x(), mask())), EPS);
    }

    @Test
    void varianceIsBiasedOrBesselCorrected() {
        assertEquals(3.44, item(Masked.var(x(), mask(), false)), EPS);
        // 3.44 · 5/4 = 4.3
        assertEquals(4.3, item(Masked.var(x(), mask(), true)), EPS);
    }

    @Test
    void integerMasksWorkLikeFloatMasks() {
        Tensor longMask = Tensors.longs(new long[][] {{1, 1, 1, 0}, {1, 1, 0, 0}}, null);
        assertEquals(3.4, item(Masked.mean(x(), longMask)), EPS);
        assertEquals(4.3, item(Masked.var(x(), longMask, true)), EPS);
    }

    @Test
    void whiteningCentresAndScalesTheSelectedEntries() {
        // (x − 3.4) / sqrt(4.3 + 1e-8), sqrt(4.3) = 2.073644:
        // 1 → −2.4 / 2.073644 = −1.157383; 2 → −0.675140; 3 → −0.192897; 5 → 0.771589; 6 → 1.253831
        float[] w = Tensors.toFloats(Masked.whiten(x(), mask(), true));
        assertEquals(-1.157383, w[0], EPS);
        assertEquals(-0.675140, w[1], EPS);
        assertEquals(-0.192897, w[2], EPS);
        assertEquals(0.771589, w[4], EPS);
        assertEquals(1.253831, w[5], EPS);
    }

    @Test
    void momentsAreTheCountSumAndSumOfSquaresOfTheSelectedEntries() {
        // n = 5, Σ = 17, Σx² = 1 + 4 + 9 + 25 + 36 = 75
        double[] m = Masked.moments(x(), mask());
        assertEquals(5, m[0], EPS);
        assertEquals(17, m[1], EPS);
        assertEquals(75, m[2], EPS);
    }

    @Test
    void whiteningFromMomentsSummedOverTwoHalvesEqualsWhiteningTheWhole() {
        // as two ranks holding one row each: μ = 17 / 5 = 3.4, σ² = (75 − 5 · 3.4²) / 4 = 17.2 / 4 = 4.3
        double[] top = Masked.moments(x().narrow(0, 0, 1), mask().narrow(0, 0, 1));
        double[] bottom = Masked.moments(x().narrow(0, 1, 1), mask().narrow(0, 1, 1));
        double[] sum = {top[0] + bottom[0], top[1] + bottom[1], top[2] + bottom[2]};
        float[] whole = Tensors.toFloats(Masked.whiten(x(), mask(), true));
        float[] fromTop = Tensors.toFloats(Masked.whiten(x().narrow(0, 0, 1), sum, true));
        float[] fromBottom = Tensors.toFloats(Masked.whiten(x().narrow(0, 1, 1), sum, true));
        assertEquals(-1.157383, fromTop[0], EPS);
        for (int j : new int[] {0, 1, 2}) {
            assertEquals(whole[j], fromTop[j], EPS);
        }
        for (int j : new int[] {0, 1}) {
            assertEquals(whole[4 + j], fromBottom[j], EPS);
        }
        // without centring the mean comes back: 1 → −1.157383 + 3.4 = 2.242617
        assertEquals(2.242617, Tensors.toFloats(Masked.whiten(x().narrow(0, 0, 1), sum, false))[0], EPS);
        assertThrows(IllegalArgumentException.class, () -> Masked.whiten(x(), new double[] {1, 1, 1}, true));
    }

    @Test
    void whitenedEntriesHaveMeanZeroAndUnitVarianceOverTheMask() {
        Tensor w = Masked.whiten(x(), mask(), true);
        assertEquals(0.0, item(Masked.mean(w, mask())), EPS);
        // unbiased variance 4.3 / (4.3 + 1e-8) = 1 − 2.3e-9
        assertEquals(1.0, item(Masked.var(w, mask(), true)), EPS);
    }

    @Test
    void maskedOutEntriesDoNotChangeTheWhitenedValues() {
        Tensor other = Tensors.floats(new float[] {1, 2, 3, -1e4f, 5, 6, 7e3f, -3}, 2, 4);
        float[] a = Tensors.toFloats(Masked.whiten(x(), mask(), true));
        float[] b = Tensors.toFloats(Masked.whiten(other, mask(), true));
        for (int i : new int[] {0, 1, 2, 4, 5}) {
            assertEquals(a[i], b[i], 1e-6, "entry " + i);
        }
    }

    @Test
    void maskedOutEntriesAreTransformedTooAsInTrl() {
        // the masked-out 100 is whitened with the same μ and σ: (100 − 3.4) / 2.073644 = 46.584
        float[] w = Tensors.toFloats(Masked.whiten(x(), mask(), true));
        assertEquals(46.5846, w[3], 1e-3);
    }

    @Test
    void whiteningWithoutShiftKeepsTheMeanAndScalesTheSpread() {
        // x' = (x − 3.4) / 2.073644 + 3.4: 1 → −1.157383 + 3.4 = 2.242617; the mean stays 3.4, the variance is 1
        Tensor w = Masked.whiten(x(), mask(), false);
        assertEquals(2.242617, Tensors.toFloats(w)[0], EPS);
        assertEquals(3.4, item(Masked.mean(w, mask())), EPS);
        assertEquals(1.0, item(Masked.var(w, mask(), true)), EPS);
    }

    @Test
    void meanKeepsTheGraph() {
        Tensor v = Tensors.floats(new float[] {1, 2, 3, 4}, 1, 4).set_requires_grad(true);
        Tensor m = Tensors.floats(new float[] {1, 1, 0, 0}, 1, 4);
        Masked.mean(v, m).backward();
        // d/dx_i of Σ x·m / Σ m = m_i / 2
        float[] g = Tensors.toFloats(v.grad());
        assertEquals(0.5, g[0], 1e-7);
        assertEquals(0.5, g[1], 1e-7);
        assertEquals(0.0, g[2], 1e-7);
        assertEquals(0.0, g[3], 1e-7);
    }

    @Test
    void varianceOfTooFewSelectedEntriesIsRejected() {
        Tensor one = Tensors.floats(new float[] {1, 0, 0, 0, 0, 0, 0, 0}, 2, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Masked.var(x(), one, true));
        assertTrue(e.getMessage().contains("at least 2"), e.getMessage());
        assertEquals(0.0, item(Masked.var(x(), one, false)), 1e-7);
        Tensor none = Tensors.floats(new float[8], 2, 4);
        assertThrows(IllegalArgumentException.class, () -> Masked.var(x(), none, false));
        assertThrows(IllegalArgumentException.class, () -> Masked.whiten(x(), one, true));
    }
}
