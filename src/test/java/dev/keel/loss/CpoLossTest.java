package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class CpoLossTest {
    private static final double EPS = 1e-5;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    private static Tensor scalar(float v) {
        return Tensors.floats(new float[] {v}, 1).squeeze();
    }

    private static float loss(CpoLossType type, float chosen, float rejected, float nll, double beta, double eps,
            double gamma, double alpha) {
        return Tensors.toFloats(CpoLoss.compute(type, t(chosen), t(rejected), scalar(nll), beta, eps, gamma, alpha)
                .losses())[0];
    }

    @Test
    void sigmoidAtZeroMarginIsLnTwoPlusAlphaTimesTheNll() {
        // Δ = 0: −log σ(0) = ln 2 = 0.693147; α = 1, NLL 0.5 ⇒ 1.193147
        assertEquals(1.193147, loss(CpoLossType.SIGMOID, -7, -7, 0.5f, 0.1, 0, 0.5, 1.0), EPS);
        // α = 0 drops the NLL
        assertEquals(0.693147, loss(CpoLossType.SIGMOID, -7, -7, 0.5f, 0.1, 0, 0.5, 0.0), EPS);
    }

    @Test
    void conservativeSigmoidMixesBothDirections() {
        // βΔ = 0.1 · (−2 − (−12)) = 1, ε = 0.1: 0.9 · (−log σ(1)) + 0.1 · (−log σ(−1)) = 0.9 · 0.313262 + 0.1 · 1.313262
        // = 0.281936 + 0.131326 = 0.413262
        assertEquals(0.413262, loss(CpoLossType.SIGMOID, -2, -12, 0, 0.1, 0.1, 0.5, 0.0), EPS);
    }

    @Test
    void simpoSubtractsTheTargetMarginGamma() {
        // per-token Δ = 0.25, β = 2, γ = 0.5: βΔ − γ = 0 ⇒ −log σ(0) = ln 2 = 0.693147
        assertEquals(0.693147, loss(CpoLossType.SIMPO, -0.5f, -0.75f, 0, 2.0, 0, 0.5, 0.0), EPS);
        // γ = 1.5: βΔ − γ = −1 ⇒ −log σ(−1) = 1.313262
        assertEquals(1.313262, loss(CpoLossType.SIMPO, -0.5f, -0.75f, 0, 2.0, 0, 1.5, 0.0), EPS);
    }

    @Test
    void hingeIsZeroPastAMarginOfOneOverBeta() {
        // β = 0.5: Δ = 2 ⇒ relu(1 − 1) = 0; Δ = 1 ⇒ relu(1 − 0.5) = 0.5; Δ = −2 ⇒ relu(1 + 1) = 2
        assertEquals(0.0, loss(CpoLossType.HINGE, -1, -3, 0, 0.5, 0, 0.5, 0.0), EPS);
        assertEquals(0.5, loss(CpoLossType.HINGE, -1, -2, 0, 0.5, 0, 0.5, 0.0), EPS);
        assertEquals(2.0, loss(CpoLossType.HINGE, -3, -1, 0, 0.5, 0, 0.5, 0.0), EPS);
    }

    @Test
    void ipoPullsTheMarginTowardsOneOverTwoBeta() {
        // β = 0.5: 1/(2β) = 1; Δ = 0 ⇒ (0 − 1)² = 1; Δ = 1 ⇒ 0
        assertEquals(1.0, loss(CpoLossType.IPO, -1, -1, 0, 0.5, 0, 0.5, 0.0), EPS);
        assertEquals(0.0, loss(CpoLossType.IPO, -1, -2, 0, 0.5, 0, 0.5, 0.0), EPS);
    }

    @Test
    void rewardsAreBetaTimesThePolicyLogProbs() {
        // β = 0.1: rewards −0.2 and −1.2
        CpoLoss.Result r = CpoLoss.compute(CpoLossType.SIGMOID, t(-2), t(-12), scalar(0), 0.1, 0, 0.5, 1.0);
        assertEquals(-0.2, Tensors.toFloats(r.chosenRewards())[0], EPS);
        assertEquals(-1.2, Tensors.toFloats(r.rejectedRewards())[0], EPS);
    }

    @Test
    void ipoAndSimpoReadPerTokenMeansAndTheOthersSums() {
        // rows: −6 over 3 tokens and −2 over 4 tokens ⇒ sums −6, −2; per token −2, −0.5
        LogProbs.Sums s = new LogProbs.Sums(t(-6, -2), Tensors.longs(new long[] {3, 4}, null));
        assertArrayEquals(new float[] {-6, -2}, Tensors.toFloats(CpoLoss.logProbs(CpoLossType.SIGMOID, s)));
        assertArrayEquals(new float[] {-6, -2}, Tensors.toFloats(CpoLoss.logProbs(CpoLossType.HINGE, s)));
        assertArrayEquals(new float[] {-2, -0.5f}, Tensors.toFloats(CpoLoss.logProbs(CpoLossType.IPO, s)));
        assertArrayEquals(new float[] {-2, -0.5f}, Tensors.toFloats(CpoLoss.logProbs(CpoLossType.SIMPO, s)));
    }

    @Test
    void labelSmoothingIsRefusedWhereTheLossWouldIgnoreIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CpoLoss.validate(CpoLossType.HINGE, 0.1, 0.1, 0.5, 1.0));
        assertTrue(e.getMessage().contains("--label-smoothing") && e.getMessage().contains("hinge"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CpoLoss.validate(CpoLossType.SIMPO, 0.1, 0, -1, 1.0));
        assertThrows(IllegalArgumentException.class, () -> CpoLoss.validate(CpoLossType.SIMPO, 0.1, 0, 0.5, -1));
        assertEquals(CpoLossType.SIMPO, CpoLossType.parse(" SimPO "));
        assertThrows(IllegalArgumentException.class, () -> CpoLossType.parse("orpo"));
    }
}
