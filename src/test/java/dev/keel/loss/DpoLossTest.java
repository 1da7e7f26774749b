package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class DpoLossTest {
    private static final double EPS = 1e-5;
    private static final double LN2 = 0.693147;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    /** Losses of {@code type} for the given (policy chosen, policy rejected, ref chosen, ref rejected). */
    private static float[] losses(DpoLossType type, double beta, double eps, float[] pc, float[] pr, float[] rc,
            float[] rr) {
        return Tensors.toFloats(DpoLoss.compute(type, t(pc), t(pr), t(rc), t(rr), beta, eps).losses());
    }

    /**
     * Two pairs at β = 0.5: pair 0 has c = r = 0 (every log-prob −3); pair 1 has c = −1 − (−3) = 2 and
     * r = −5 − (−3) = −2, so βc = 1, βr = −1, βΔ = 2.
     */
    private static float[] twoPairs(DpoLossType type) {
        return losses(type, 0.5, 0.0, new float[] {-3, -1}, new float[] {-3, -5}, new float[] {-3, -3},
                new float[] {-3, -3});
    }

    @Test
    void sigmoidAtZeroMarginIsLnTwo() {
        // Δ = 0: −log σ(0) = ln 2 = 0.693147
        float[] l = losses(DpoLossType.SIGMOID, 0.1, 0.0, new float[] {-7}, new float[] {-9}, new float[] {-7},
                new float[] {-9});
        assertEquals(LN2, l[0], EPS);
    }

    @Test
    void sigmoidAtBetaDeltaOneIsMinusLogSigmoidOfOne() {
        // β = 0.1, c = −10 − (−15) = 5, r = −12 − (−7) = −5, Δ = 10, βΔ = 1: −log σ(1) = ln(1 + e^−1) = 0.313262
        DpoLoss.Result res = DpoLoss.compute(DpoLossType.SIGMOID, t(-10), t(-12), t(-15), t(-7), 0.1, 0.0);
        assertEquals(0.313262, Tensors.toFloats(res.losses())[0], EPS);
        // rewards βc = 0.5, βr = −0.5
        assertEquals(0.5, Tensors.toFloats(res.chosenRewards())[0], EPS);
        assertEquals(-0.5, Tensors.toFloats(res.rejectedRewards())[0], EPS);
    }

    @Test
    void labelSmoothingZeroEqualsPlainSigmoidForSigmoidAndRobust() {
        float[] pc = {-1, -4, -2.5f};
        float[] pr = {-2, -3, -0.5f};
        float[] rc = {-1.5f, -3, -2};
        float[] rr = {-1, -3.5f, -1};
        float[] plain = losses(DpoLossType.SIGMOID, 0.3, 0.0, pc, pr, rc, rr);
        float[] robust = losses(DpoLossType.ROBUST, 0.3, 0.0, pc, pr, rc, rr);
        assertArrayEquals(plain, robust, 1e-6f);
        // pair 0: c = 0.5, r = −1, Δ = 1.5, βΔ = 0.45: −log σ(0.45) = ln(1 + e^−0.45) = ln 1.637628 = 0.493249
        assertEquals(0.493249, plain[0], EPS);
    }

    @Test
    void conservativeDpoAddsEpsilonTimesTheMarginTerm() {
        // βΔ = 1, ε = 0.1: −0.9 log σ(1) − 0.1 log σ(−1) = 0.9·0.313262 + 0.1·1.313262 = 0.413262
        // (log σ(−1) = log σ(1) − 1, so the loss is 0.313262 + ε)
        float[] l = losses(DpoLossType.SIGMOID, 1.0, 0.1, new float[] {0}, new float[] {-1}, new float[] {0},
                new float[] {0});
        assertEquals(0.413262, l[0], EPS);
    }

    @Test
    void robustDebiasesTheLabelSmoothedLoss() {
        // βΔ = 1, ε = 0.1: (0.9·0.313262 − 0.1·1.313262) / 0.8 = (0.281936 − 0.131326) / 0.8 = 0.188262
        float[] l = losses(DpoLossType.ROBUST, 1.0, 0.1, new float[] {0}, new float[] {-1}, new float[] {0},
                new float[] {0});
        assertEquals(0.188262, l[0], EPS);
    }

    @Test
    void hingeIsReluOfOneMinusBetaDelta() {
        // β = 0.5; Δ = 1, 2, 4, −2 → βΔ = 0.5, 1, 2, −1 → relu(1 − βΔ) = 0.5, 0, 0, 2
        float[] l = losses(DpoLossType.HINGE, 0.5, 0.0, new float[] {1, 2, 4, -2}, new float[] {0, 0, 0, 0},
                new float[] {0, 0, 0, 0}, new float[] {0, 0, 0, 0});
        assertArrayEquals(new float[] {0.5f, 0f, 0f, 2f}, l, 1e-6f);
    }

    @Test
    void ipoPullsDeltaTowardsOneOverTwoBeta() {
        // β = 0.1, 1/(2β) = 5; per-token Δ' = 0 → (0 − 5)² = 25; Δ' = 5 → 0; Δ' = 7 → 4
        float[] l = losses(DpoLossType.IPO, 0.1, 0.0, new float[] {-1.2f, -1, -1}, new float[] {-1.2f, -6, -8},
                new float[] {-1.5f, -1, -1}, new float[] {-1.5f, -1, -1});
        assertArrayEquals(new float[] {25f, 0f, 4f}, l, 1e-4f);
    }

    @Test
    void bcoPairClassifiesChosenUpAndRejectedDown() {
        // pair 0: c = r = 0: −log σ(0) − log σ(0) = 2 ln 2 = 1.386294
        // pair 1: βc = 1, βr = −1: −log σ(1) − log σ(1) = 2·0.313262 = 0.626523
        assertArrayEquals(new float[] {1.386294f, 0.626523f}, twoPairs(DpoLossType.BCO_PAIR), 1e-5f);
    }

    @Test
    void bcoPairShiftMovesTheDecisionBoundary() {
        // c = r = 0, β = 1, δ = −1: −log σ(0 − (−1)) − log σ(−(0 − (−1))) = −log σ(1) − log σ(−1)
        // = 0.313262 + 1.313262 = 1.626523
        Tensor l = DpoLoss.bcoPair(t(0), t(0), 1.0, -1.0);
        assertEquals(1.626523, Tensors.toFloats(l)[0], EPS);
    }

    @Test
    void sppoHardPullsChosenToPlusAndRejectedToMinusOneOverTwoBeta() {
        // β = 0.5, 1/(2β) = 1. pair 0: c = r = 0: (0 − 1)² + (0 + 1)² = 2
        // pair 1: c = 2, r = −2: (2 − 1)² + (−2 + 1)² = 1 + 1 = 2
        assertArrayEquals(new float[] {2f, 2f}, twoPairs(DpoLossType.SPPO_HARD), 1e-5f);
        // c = 1, r = −1 is the minimum: 0
        float[] l = losses(DpoLossType.SPPO_HARD, 0.5, 0.0, new float[] {1}, new float[] {-1}, new float[] {0},
                new float[] {0});
        assertEquals(0.0, l[0], 1e-6);
    }

    @Test
    void ncaPairMatchesHandComputedValues() {
        // pair 0: c = r = 0: ln 2 + ½ ln 2 + ½ ln 2 = 2 ln 2 = 1.386294
        // pair 1: βc = 1, βr = −1: −log σ(1) − ½ log σ(−1) − ½ log σ(1) = 0.313262 + 0.656631 + 0.156631 = 1.126523
        assertArrayEquals(new float[] {1.386294f, 1.126523f}, twoPairs(DpoLossType.NCA_PAIR), 1e-5f);
    }

    @Test
    void apoZeroMatchesHandComputedValues() {
        // pair 0: c = r = 0: 1 − σ(0) + σ(0) = 1 − 0.5 + 0.5 = 1
        // pair 1: βc = 1, βr = −1: 1 − σ(1) + σ(−1) = 1 − 0.731059 + 0.268941 = 0.537883
        assertArrayEquals(new float[] {1f, 0.537883f}, twoPairs(DpoLossType.APO_ZERO), 1e-5f);
    }

    @Test
    void apoDownMatchesHandComputedValues() {
        // pair 0: c = r = 0: σ(0) + 1 − σ(0) = 1
        // pair 1: βc = 1, βΔ = 2: σ(1) + 1 − σ(2) = 0.731059 + 1 − 0.880797 = 0.850261
        assertArrayEquals(new float[] {1f, 0.850261f}, twoPairs(DpoLossType.APO_DOWN), 1e-5f);
    }

    @Test
    void sigmoidIsStableAtHugeMarginsOfBothSigns() {
        // β = 1, Δ = ±1000: −log σ(1000) ≈ e^−1000 ≈ 0; −log σ(−1000) = 1000 + log(1 + e^−1000) ≈ 1000
        float[] l = losses(DpoLossType.SIGMOID, 1.0, 0.0, new float[] {500, -500}, new float[] {-500, 500},
                new float[] {0, 0}, new float[] {0, 0});
        assertEquals(0.0, l[0], 1e-6);
        assertEquals(1000.0, l[1], 1e-3);
    }

    @Test
    void everyLossTypeIsFiniteWithFiniteGradientsAtHugeMargins() {
        // c = ±500, r = ∓500, β = 1: |βc| = |βr| = 500, |βΔ| = 1000
        for (DpoLossType type : DpoLossType.values()) {
            double eps = type.usesLabelSmoothing() ? 0.1 : 0.0;
            Tensor pc = t(500, -500).set_requires_grad(true);
            Tensor pr = t(-500, 500).set_requires_grad(true);
            DpoLoss.Result res = DpoLoss.compute(type, pc, pr, t(0, 0), t(0, 0), 1.0, eps);
            for (float v : Tensors.toFloats(res.losses())) {
                assertTrue(Float.isFinite(v), type + " loss " + v);
            }
            res.losses().sum().backward();
            for (float g : Tensors.toFloats(pc.grad())) {
                assertTrue(Float.isFinite(g), type + " gradient " + g);
            }
            for (float g : Tensors.toFloats(pr.grad())) {
                assertTrue(Float.isFinite(g), type + " gradient " + g);
            }
        }
    }

    @Test
    void sigmoidGradientRaisesChosenAndLowersRejected() {
        // β = 0.1, Δ = 0: d loss/d log π(y_w) = −β σ(−βΔ) = −0.1·0.5 = −0.05, d loss/d log π(y_l) = +0.05
        Tensor pc = t(-4).set_requires_grad(true);
        Tensor pr = t(-6).set_requires_grad(true);
        DpoLoss.Result res = DpoLoss.compute(DpoLossType.SIGMOID, pc, pr, t(-4), t(-6), 0.1, 0.0);
        res.losses().sum().backward();
        float gc = Tensors.toFloats(pc.grad())[0];
        float gr = Tensors.toFloats(pr.grad())[0];
        assertTrue(gc < 0, "d loss / d policyChosen = " + gc);
        assertTrue(gr > 0, "d loss / d policyRejected = " + gr);
        assertEquals(-0.05, gc, 1e-6);
        assertEquals(0.05, gr, 1e-6);
    }

    @Test
    void lossesCarryTheGraphAndRewardsAreDetached() {
        Tensor pc = t(-1, -2).set_requires_grad(true);
        Tensor pr = t(-3, -1).set_requires_grad(true);
        DpoLoss.Result res = DpoLoss.compute(DpoLossType.SIGMOID, pc, pr, t(-2, -2), t(-2, -2), 0.1, 0.0);
        assertTrue(res.losses().requires_grad());
        assertFalse(res.chosenRewards().requires_grad());
        assertFalse(res.rejectedRewards().requires_grad());
    }

    @Test
    void referenceFreeIsZeroReferenceLogProbs() {
        // β = 0.5, log π_ref ≡ 0: c = −2, r = −4, rewards βc = −1, βr = −2; βΔ = 1: −log σ(1) = 0.313262
        DpoLoss.Result res = DpoLoss.compute(DpoLossType.SIGMOID, t(-2), t(-4), t(0), t(0), 0.5, 0.0);
        assertEquals(0.313262, Tensors.toFloats(res.losses())[0], EPS);
        assertEquals(-1.0, Tensors.toFloats(res.chosenRewards())[0], EPS);
        assertEquals(-2.0, Tensors.toFloats(res.rejectedRewards())[0], EPS);
    }

    @Test
    void metricSumsAddTrlMetricsOverTheBatch() {
        // β = 0.5. pair 0: c = −1 − (−2) = 1, r = −3 − (−2) = −1 → βc = 0.5, βr = −0.5, right
        //          pair 1: c = −4 − (−2) = −2, r = −1 − (−2) = 1 → βc = −1, βr = 0.5, wrong
        //          pair 2: c = r = 0 → βc = βr = 0, a tie, wrong
        Tensor pc = t(-1, -4, -2);
        Tensor pr = t(-3, -1, -2);
        DpoLoss.Result res = DpoLoss.compute(DpoLossType.SIGMOID, pc, pr, t(-2, -2, -2), t(-2, -2, -2), 0.5, 0.0);
        Map<String, Double> m = DpoLoss.metricSums(res, pc, pr);
        assertEquals(List.of("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected"), List.copyOf(m.keySet()));
        assertEquals(-0.5, m.get("rewards/chosen"), 1e-6);      // 0.5 − 1 + 0
        assertEquals(0.0, m.get("rewards/rejected"), 1e-6);     // −0.5 + 0.5 + 0
        assertEquals(1.0, m.get("rewards/accuracies"), 0.0);    // only pair 0
        assertEquals(-0.5, m.get("rewards/margins"), 1e-6);     // 1 − 1.5 + 0
        assertEquals(-7.0, m.get("logps/chosen"), 1e-6);        // −1 − 4 − 2
        assertEquals(-6.0, m.get("logps/rejected"), 1e-6);      // −3 − 1 − 2
    }

    @Test
    void parseAcceptsEveryTrlNameIgnoringCase() {
        List<String> names = List.of("sigmoid", "robust", "hinge", "ipo", "bco_pair", "sppo_hard", "nca_pair",
                "apo_zero", "apo_down");
        assertEquals(names.size(), DpoLossType.values().length);
        for (int i = 0; i < names.size(); i++) {
            DpoLossType t = DpoLossType.parse(names.get(i));
            assertEquals(DpoLossType.values()[i], t);
            assertEquals(names.get(i), t.trlName());
        }
        assertEquals(DpoLossType.APO_ZERO, DpoLossType.parse("APO_Zero"));
        assertEquals(DpoLossType.SIGMOID, DpoLossType.parse(" SIGMOID "));
    }

    @Test
    void parseOfAnUnknownNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DpoLossType.parse("kto_pair"));
        assertTrue(e.getMessage().contains("kto_pair"), e.getMessage());
        assertTrue(e.getMessage().contains("sigmoid, robust, hinge, ipo, bco_pair, sppo_hard, nca_pair, apo_zero,"
                + " apo_down"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DpoLossType.parse(null));
    }

    @Test
    void invalidBetaOrLabelSmoothingIsRejectedNamingTheOption() {
        Tensor z = t(0);
        IllegalArgumentException beta = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.SIGMOID, z, z, z, z, 0.0, 0.0));
        assertTrue(beta.getMessage().contains("--beta"), beta.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(DpoLossType.SIGMOID, z, z, z, z, Double.NaN, 0));
        IllegalArgumentException robust = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.ROBUST, z, z, z, z, 0.1, 0.5));
        assertTrue(robust.getMessage().contains("--label-smoothing") && robust.getMessage().contains("robust"),
                robust.getMessage());
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.SIGMOID, z, z, z, z, 0.1, -0.1));
        assertTrue(range.getMessage().contains("--label-smoothing"), range.getMessage());
        IllegalArgumentException unused = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.IPO, z, z, z, z, 0.1, 0.1));
        assertTrue(unused.getMessage().contains("--label-smoothing") && unused.getMessage().contains("ipo"),
                unused.getMessage());
    }

    @Test
    void mismatchedShapesAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.SIGMOID, t(0, 0), t(0), t(0, 0), t(0, 0), 0.1, 0.0));
        Tensor twoD = Tensors.floats(new float[] {0, 0}, 2, 1);
        assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.compute(DpoLossType.SIGMOID, twoD, twoD, twoD, twoD, 0.1, 0.0));
    }

    @Test
    void ofPairsAveragesPerTokenForIpoOnly() {
        // one pair: policy sums (−4 chosen over 2 tokens, −6 rejected over 3), reference sums (−2, −3)
        // IPO, per token: policy (−2, −2), reference (−1, −1): c = −1, r = −1, Δ = 0; β = 0.5: (0 − 1)² = 1
        LogProbs.Sums policy = new LogProbs.Sums(Tensors.floats(new float[] {-4, -6}, 2),
                Tensors.longs(new long[] {2, 3}, null));
        Tensor ref = Tensors.floats(new float[] {-2, -3}, 2);
        DpoLoss.Pairs ipo = DpoLoss.ofPairs(DpoLossType.IPO, policy, ref, 0.5, 0);
        assertEquals(1.0, Tensors.item(ipo.result().losses()), 1e-6);
        assertEquals(-2.0, Tensors.item(ipo.policyChosen()), 1e-6);
        // sigmoid, sums as they are: c = −2, r = −3, Δ = 1; β = 1: −log σ(1) = 0.313262
        DpoLoss.Pairs dpo = DpoLoss.ofPairs(DpoLossType.SIGMOID, policy, ref, 1.0, 0);
        assertEquals(0.313262, Tensors.item(dpo.result().losses()), 1e-6);
        assertEquals(-4.0, Tensors.item(dpo.policyChosen()), 1e-6);
    }
}
