package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class GrpoTest {
    private static final double EPS = 1e-5;
    private static final float LN2 = 0.6931472f;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor t(float... v) {
        return Tensors.floats(v, v.length);
    }

    private static Tensor m23(float... v) {
        return Tensors.floats(v, 2, 3);
    }

    @Test
    void advantagesAreGroupNormalisedScoresWithTheUnbiasedStd() {
        // group 1, 2, 3, 6: mean 3; deviations −2, −1, 0, 3; Σ squares = 4 + 1 + 0 + 9 = 14
        // unbiased std = sqrt(14 / 3) = 2.160247; A = dev / (2.160247 + 1e-4) = dev / 2.160347
        // → −0.925777, −0.462889, 0, 1.388666
        assertArrayEquals(new float[] {-0.925777f, -0.462889f, 0f, 1.388666f},
                Tensors.toFloats(Grpo.advantages(t(1, 2, 3, 6), 4)), 1e-5f);
    }

    @Test
    void theStdOfAPairUsesTheDivisorKMinusOne() {
        // scores 0, 1: mean 0.5; unbiased std = sqrt((0.25 + 0.25) / 1) = 0.707107 (the biased one would be 0.5)
        // A = ±0.5 / 0.707207 = ±0.707007
        assertArrayEquals(new float[] {-0.707007f, 0.707007f}, Tensors.toFloats(Grpo.advantages(t(0, 1), 2)), 1e-5f);
    }

    @Test
    void groupsArePromptMajorAndAnEqualGroupGetsZero() {
        // prompt 0: 5, 5 → std 0, A = 0 / 1e-4 = 0; prompt 1: 0, 1 → ±0.707007
        assertArrayEquals(new float[] {0f, 0f, -0.707007f, 0.707007f},
                Tensors.toFloats(Grpo.advantages(t(5, 5, 0, 1), 2)), 1e-5f);
    }

    @Test
    void advantagesRejectFewerThanTwoSamples() {
        assertThrows(IllegalArgumentException.class, () -> Grpo.advantages(t(1, 2), 1));
        assertThrows(IllegalArgumentException.class, () -> Grpo.advantages(t(1, 2, 3), 2));
    }

    /**
     * Two sequences of width 3: sequence 0 has three response tokens and A = 1, sequence 1 one token and
     * A = −0.5. With log π_θ = log π_old the ratio is 1 and the per-token loss is −A: −1, −1, −1 and +0.5.
     */
    private static final Tensor MASK = m23(1, 1, 1, 1, 0, 0);

    @Test
    void atRatioOneTheLossIsTheTokenMeanOfMinusTheAdvantage() {
        // token-level mean (TRL's default "dapo"): (−1 − 1 − 1 + 0.5) / 4 = −0.625
        // (the per-sequence "grpo" aggregation would give (−1 + 0.5) / 2 = −0.25)
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        Grpo.Result r = Grpo.loss(logp, logp, logp, t(1, -0.5f), MASK, 0.2, 0.0);
        assertEquals(-0.625, Tensors.item(r.loss()), EPS);
        assertEquals(0.0, Tensors.item(r.clipFrac()), 0.0);
        assertEquals(0.0, Tensors.item(r.kl()), EPS);
    }

    @Test
    void atRatioOneTheGradientIsMinusTheAdvantageOverTheTokenCount() {
        // d loss / d log π_θ(y_t) = −A ρ / 4 = −0.25 for sequence 0 and +0.125 for sequence 1; padding 0
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9).set_requires_grad(true);
        Grpo.Result r = Grpo.loss(logp, logp.detach(), null, t(1, -0.5f), MASK, 0.2, 0.0);
        r.loss().backward();
        assertArrayEquals(new float[] {-0.25f, -0.25f, -0.25f, 0.125f, 0f, 0f}, Tensors.toFloats(logp.grad()), 1e-6f);
        assertNull(r.kl());
    }

    @Test
    void theK3PenaltyTowardsTheReferenceIsAddedPerToken() {
        // β = 0.1; l = log π_θ − log π_ref = ln 2 on the three tokens of sequence 0, −ln 2 on sequence 1's token
        // k3(ln 2) = 0.193147, k3(−ln 2) = 0.306853; Σ β k3 = 0.1 · (3 · 0.193147 + 0.306853) = 0.088629
        // loss = (−2.5 + 0.088629) / 4 = −0.602843; kl = (3 · 0.193147 + 0.306853) / 4 = 0.221574
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        Tensor ref = m23(-1 - LN2, -2 - LN2, -0.5f - LN2, -3 + LN2, -7, 7);
        Grpo.Result r = Grpo.loss(logp, logp, ref, t(1, -0.5f), MASK, 0.2, 0.1);
        assertEquals(-0.602843, Tensors.item(r.loss()), EPS);
        assertEquals(0.221574, Tensors.item(r.kl()), EPS);
    }

    @Test
    void theKlGradientFlowsThroughTheCurrentPolicy() {
        // A = 0, β = 0.1, l = ln 2 on one token: d (β k3) / d log π_θ = β (1 − e^−l) = 0.1 · 0.5 = 0.05
        Tensor logp = Tensors.floats(new float[] {-1}, 1, 1).set_requires_grad(true);
        Grpo.Result r = Grpo.loss(logp, logp.detach(), Tensors.floats(new float[] {-1 - LN2}, 1, 1), t(0),
                Tensors.floats(new float[] {1}, 1, 1), 0.2, 0.1);
        r.loss().backward();
        assertEquals(0.05, Tensors.toFloats(logp.grad())[0], 1e-6);
    }

    @Test
    void ratiosOutsideTheClipRangeAreClippedOnTheSideTheAdvantagePushes() {
        // ε = 0.2. sequence 0, A = 1:  ρ = 1.5 → −min(1.5, 1.2) = −1.2 (clipped); ρ = 0.5 → −min(0.5, 0.8) = −0.5
        //          sequence 1, A = −1: ρ = 0.5 → −min(−0.5, −0.8) = 0.8 (clipped); ρ = 1.5 → −min(−1.5, −1.2) = 1.5
        // loss = (−1.2 − 0.5 + 0.8 + 1.5) / 4 = 0.15; clipFrac = 2 / 4 = 0.5
        float a = (float) Math.log(1.5);
        float b = (float) Math.log(0.5);
        Tensor old = Tensors.floats(new float[] {-1, -1, -1, -1}, 2, 2);
        Tensor logp = Tensors.floats(new float[] {-1 + a, -1 + b, -1 + b, -1 + a}, 2, 2);
        Tensor mask = Tensors.floats(new float[] {1, 1, 1, 1}, 2, 2);
        Grpo.Result r = Grpo.loss(logp, old, null, t(1, -1), mask, 0.2, 0.0);
        assertEquals(0.15, Tensors.item(r.loss()), EPS);
        assertEquals(0.5, Tensors.item(r.clipFrac()), 1e-6);
    }

    @Test
    void aGivenTokenCountReplacesTheBatchsOwn() {
        // Σ m·ℓ = −2.5 as above, over the 8 tokens of an accumulated batch: −2.5 / 8 = −0.3125
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        assertEquals(-0.3125, Tensors.item(Grpo.loss(logp, logp, null, t(1, -0.5f), MASK, 0.2, 0.0, 8).loss()), EPS);
        assertThrows(IllegalArgumentException.class,
                () -> Grpo.loss(logp, logp, null, t(1, -0.5f), MASK, 0.2, 0.0, 0));
    }

    @Test
    void paddingIsIgnoredWhateverItsLogProbs() {
        // padded log-probs of ±1e4 would overflow exp; the loss stays −0.625 and every gradient finite
        Tensor logp = m23(-1, -2, -0.5f, -3, 1e4f, 1e4f).set_requires_grad(true);
        Tensor old = m23(-1, -2, -0.5f, -3, -1e4f, -1e4f);
        Tensor ref = m23(-1, -2, -0.5f, -3, -1e4f, 1e4f);
        Grpo.Result r = Grpo.loss(logp, old, ref, t(1, -0.5f), MASK, 0.2, 0.1);
        assertEquals(-0.625, Tensors.item(r.loss()), EPS);
        r.loss().backward();
        for (float g : Tensors.toFloats(logp.grad())) {
            assertTrue(Float.isFinite(g), "gradient " + g);
        }
    }

    @Test
    void lossCarriesTheGraphAndDiagnosticsAreDetached() {
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9).set_requires_grad(true);
        Grpo.Result r = Grpo.loss(logp, logp.detach(), logp.detach().sub(Tensors.s(0.1)), t(1, -0.5f), MASK, 0.2,
                0.1);
        assertTrue(r.loss().requires_grad());
        assertFalse(r.clipFrac().requires_grad());
        assertFalse(r.kl().requires_grad());
    }

    @Test
    void invalidArgumentsAreRejected() {
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        IllegalArgumentException noRef = assertThrows(IllegalArgumentException.class,
                () -> Grpo.loss(logp, logp, null, t(1, -0.5f), MASK, 0.2, 0.1));
        assertTrue(noRef.getMessage().contains("reference"), noRef.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Grpo.loss(logp, logp, logp, t(1), MASK, 0.2, 0.1));
        assertThrows(IllegalArgumentException.class, () -> Grpo.loss(logp, logp, logp, t(1, 0), MASK, 0.0, 0.1));
        assertThrows(IllegalArgumentException.class, () -> Grpo.loss(logp, logp, logp, t(1, 0), MASK, 0.2, -1));
    }

    @Test
    void approxKlIsHalfTheMaskedMeanSquaredLogRatio() {
        // d = (−1 − (−1.5), masked) = (0.5, ·): ½ · mean(0.25) over the one response token = 0.125
        Tensor logpNew = Tensors.floats(new float[] {-1, -2}, 1, 2);
        Tensor logpOld = Tensors.floats(new float[] {-1.5f, -2.2f}, 1, 2);
        Tensor mask = Tensors.floats(new float[] {1, 0}, 1, 2);
        assertEquals(0.125, Tensors.item(Grpo.approxKl(logpNew, logpOld, mask)), 1e-6);
    }

    @Test
    void eachLossTypeAggregatesThePerTokenLossesAsTrlDoes() {
        // per-token losses at ratio 1: −1, −1, −1 (sequence 0) and +0.5 (sequence 1, one token)
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        Tensor a = t(1, -0.5f);
        // grpo: sequence means −1 and 0.5, their mean −0.25
        assertEquals(-0.25, Tensors.item(Grpo.loss(logp, logp, null, a, MASK, 0.2, 0.2, 0, Grpo.LossType.GRPO, 8).loss()), EPS);
        // bnpo and dapo: Σ = −2.5 over 4 tokens = −0.625
        assertEquals(-0.625, Tensors.item(Grpo.loss(logp, logp, null, a, MASK, 0.2, 0.2, 0, Grpo.LossType.BNPO, 8).loss()), EPS);
        assertEquals(-0.625, Tensors.item(Grpo.loss(logp, logp, null, a, MASK, 0.2, 0.2, 0, Grpo.LossType.DAPO, 8).loss()), EPS);
        // dr_grpo: Σ / (B · max_completion_length) = −2.5 / (2 · 8) = −0.15625
        assertEquals(-0.15625, Tensors.item(Grpo.loss(logp, logp, null, a, MASK, 0.2, 0.2, 0, Grpo.LossType.DR_GRPO, 8).loss()), EPS);
        assertEquals(Grpo.LossType.DR_GRPO, Grpo.LossType.parse("dr_grpo"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Grpo.LossType.parse("ppo")).getMessage()
                .contains("--loss-type must be grpo, bnpo, dr_grpo or dapo"));
    }

    @Test
    void aFullyMaskedBatchHasLossZeroNotNaN() {
        Tensor logp = m23(-1, -2, -0.5f, -3, 9, 9);
        Tensor none = m23(0, 0, 0, 0, 0, 0);
        for (Grpo.LossType type : Grpo.LossType.values()) {
            assertEquals(0.0, Tensors.item(Grpo.loss(logp, logp, null, t(1, -0.5f), none, 0.2, 0.2, 0, type, 8).loss()), 0.0,
                    type.name());
        }
    }

    @Test
    void clipHigherBoundsTheRatioAboveByEpsilonHighAndBelowByEpsilonLow() {
        // one token, log π_θ − log π_old = 0.5: ρ = e^0.5 = 1.648721; A = 1
        Tensor up = Tensors.floats(new float[] {0.5f}, 1, 1);
        Tensor zero = Tensors.floats(new float[] {0f}, 1, 1);
        Tensor one = Tensors.floats(new float[] {1f}, 1, 1);
        // ε_high 0.28: −min(1.648721, 1.28) = −1.28; symmetric ε 0.2: −1.2
        Grpo.Result high = Grpo.loss(up, zero, null, t(1), one, 0.2, 0.28, 0, Grpo.LossType.BNPO, 4);
        assertEquals(-1.28, Tensors.item(high.loss()), EPS);
        assertEquals(1.0, Tensors.item(high.clipFrac()), 0.0);
        assertEquals(-1.2, Tensors.item(Grpo.loss(up, zero, null, t(1), one, 0.2, 0.2, 0, Grpo.LossType.BNPO, 4).loss()), EPS);
        // ρ = e^−0.5 = 0.606531 with A = −1: clamp to 1 − ε_low = 0.8; −min(−0.606531, −0.8) = 0.8, whatever ε_high
        Tensor down = Tensors.floats(new float[] {-0.5f}, 1, 1);
        assertEquals(0.8, Tensors.item(Grpo.loss(down, zero, null, t(-1), one, 0.2, 0.28, 0, Grpo.LossType.BNPO, 4).loss()), EPS);
    }

    @Test
    void scaleRewardsDividesByTheGroupsStdTheBatchsStdOrNothing() {
        // groups (1, 2) and (3, 4): centred −0.5, 0.5, −0.5, 0.5
        // group: each group's unbiased std = sqrt(0.5) = 0.707107; 0.5 / 0.707207 = 0.707007
        assertArrayEquals(new float[] {-0.707007f, 0.707007f, -0.707007f, 0.707007f},
                Tensors.toFloats(Grpo.advantages(t(1, 2, 3, 4), 2, Grpo.ScaleRewards.GROUP)), 1e-5f);
        // batch: std of 1, 2, 3, 4 = sqrt(5 / 3) = 1.290994; 0.5 / 1.291094 = 0.387268
        assertArrayEquals(new float[] {-0.387268f, 0.387268f, -0.387268f, 0.387268f},
                Tensors.toFloats(Grpo.advantages(t(1, 2, 3, 4), 2, Grpo.ScaleRewards.BATCH)), 1e-5f);
        // none: the centred scores
        assertArrayEquals(new float[] {-0.5f, 0.5f, -0.5f, 0.5f},
                Tensors.toFloats(Grpo.advantages(t(1, 2, 3, 4), 2, Grpo.ScaleRewards.NONE)), 1e-6f);
        assertEquals(Grpo.ScaleRewards.NONE, Grpo.ScaleRewards.parse("none"));
    }
}
