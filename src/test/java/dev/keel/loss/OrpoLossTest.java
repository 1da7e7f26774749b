package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class OrpoLossTest {
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

    @Test
    void equalOddsGiveTheNllPlusLambdaLnTwo() {
        // P_w = P_l ⇒ log OR = 0 ⇒ −λ log σ(0) = λ ln 2; NLL 1.0, λ = 0.1: 1.0 + 0.0693147 = 1.0693147
        float lnHalf = (float) Math.log(0.5);
        OrpoLoss.Result r = OrpoLoss.compute(t(lnHalf), t(lnHalf), scalar(1.0f), 0.1);
        assertEquals(1.0693147, Tensors.toFloats(r.losses())[0], EPS);
        assertEquals(0.0, Tensors.toFloats(r.logOdds())[0], EPS);
        assertEquals(-0.693147, Tensors.toFloats(r.logSigmoidOdds())[0], EPS);
    }

    @Test
    void theLogOddsRatioOfOneHalfAgainstOneFifthIsLnFour() {
        // P_w = ln 0.5: odds 0.5/0.5 = 1; P_l = ln 0.2: odds 0.2/0.8 = 0.25; log OR = ln(1/0.25) = ln 4 = 1.386294
        // σ(ln 4) = 4/5 = 0.8, −log 0.8 = 0.223144; λ = 1, NLL 0 ⇒ loss 0.223144
        OrpoLoss.Result r = OrpoLoss.compute(t((float) Math.log(0.5)), t((float) Math.log(0.2)), scalar(0f), 1.0);
        assertEquals(1.386294, Tensors.toFloats(r.logOdds())[0], EPS);
        assertEquals(0.223144, Tensors.toFloats(r.losses())[0], EPS);
        // rewards λ·P: ln 0.5 = −0.693147, ln 0.2 = −1.609438
        assertEquals(-0.693147, Tensors.toFloats(r.chosenRewards())[0], EPS);
        assertEquals(-1.609438, Tensors.toFloats(r.rejectedRewards())[0], EPS);
    }

    @Test
    void logOneMinusExpIsAccurateNearZeroWhereLog1pOfMinusExpIsNot() {
        // log(1 − e^x): x = −5 ⇒ log(1 − 0.0067379) = −0.0067607; x = −1e−10 ⇒ log(1e−10) = −23.025851
        // (in float32 exp(−1e−10) rounds to 1 and TRL's log1p(−exp(x)) gives −∞)
        float[] v = Tensors.toFloats(OrpoLoss.log1mExp(t(-5f, -1e-10f)));
        assertEquals(-0.0067607, v[0], 1e-6);
        assertEquals(-23.025851, v[1], 1e-4);
    }

    @Test
    void nearCertainCompletionsKeepAFiniteGradient() {
        // P_w = −1e−6 (a completion the model is sure of): the loss and its gradient stay finite
        Tensor chosen = t(-1e-6f, -0.5f);
        chosen.set_requires_grad(true);
        OrpoLoss.compute(chosen, t(-2f, -0.1f), scalar(0f), 0.1).losses().sum().backward();
        for (float g : Tensors.toFloats(chosen.grad())) {
            assertTrue(Float.isFinite(g), "gradient " + g);
        }
    }

    @Test
    void theNllIsTheTokenMeanOverEveryChosenToken() {
        // sums −3 over 1 token and −1 over 3 tokens: the token mean is (3 + 1) / (1 + 3) = 1.0 (TRL's
        // CrossEntropyLoss over the chosen rows), not the mean of per-row means (3 + 1/3) / 2 = 1.6667
        Tensor nll = OrpoLoss.nll(t(-3, -1), Tensors.longs(new long[] {1, 3}, null));
        assertEquals(1.0, Tensors.item(nll), EPS);
    }

    @Test
    void theLossIsTheNllMinusLambdaTimesTheMeanLogSigmoid() {
        // two pairs, λ = 0.5, NLL 2: log OR 0 and ln 4 ⇒ per pair 2 + 0.5·0.693147 = 2.346574 and 2 + 0.5·0.223144 = 2.111572
        float lnHalf = (float) Math.log(0.5);
        OrpoLoss.Result r = OrpoLoss.compute(t(lnHalf, lnHalf), t(lnHalf, (float) Math.log(0.2)), scalar(2f), 0.5);
        assertArrayEquals(new float[] {2.346574f, 2.111572f}, Tensors.toFloats(r.losses()), (float) EPS);
    }
}
