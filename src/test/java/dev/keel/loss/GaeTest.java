package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class GaeTest {
    private static final float EPS = 1e-5f;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Tensor row(float... v) {
        return Tensors.floats(v, 1, v.length);
    }

    @Test
    void withGammaAndLambdaOneAndZeroValuesAdvantageIsRewardToGo() {
        // γ = λ = 1, V ≡ 0: δ_t = r_t, A_t = Σ_{u ≥ t} r_u: r = 1, 2, 3 → A = 6, 5, 3; R = A + 0
        Gae.Result g = Gae.compute(row(1, 2, 3), row(0, 0, 0), row(1, 1, 1), 1.0, 1.0);
        assertArrayEquals(new float[] {6, 5, 3}, Tensors.toFloats(g.advantages()), EPS);
        assertArrayEquals(new float[] {6, 5, 3}, Tensors.toFloats(g.returns()), EPS);
    }

    @Test
    void threeStepsWithDiscountAndNonzeroValuesMatchTheHandComputation() {
        // γ = 0.9, λ = 0.95 (γλ = 0.855); r = 1, 0, 2; V = 0.5, 1.0, 1.5; V_3 = 0
        // t = 2: δ = 2 + 0.9·0 − 1.5 = 0.5;          A_2 = 0.5
        // t = 1: δ = 0 + 0.9·1.5 − 1.0 = 0.35;       A_1 = 0.35 + 0.855·0.5 = 0.7775
        // t = 0: δ = 1 + 0.9·1.0 − 0.5 = 1.4;        A_0 = 1.4 + 0.855·0.7775 = 2.0647625
        // R = A + V = 2.5647625, 1.7775, 2.0
        Gae.Result g = Gae.compute(row(1, 0, 2), row(0.5f, 1.0f, 1.5f), row(1, 1, 1), 0.9, 0.95);
        assertArrayEquals(new float[] {2.0647625f, 0.7775f, 0.5f}, Tensors.toFloats(g.advantages()), EPS);
        assertArrayEquals(new float[] {2.5647625f, 1.7775f, 2.0f}, Tensors.toFloats(g.returns()), EPS);
    }

    @Test
    void lambdaZeroGivesTheOneStepTdErrors() {
        // λ = 0: A_t = δ_t = 1.4, 0.35, 0.5 (the δs of the three-step case)
        Gae.Result g = Gae.compute(row(1, 0, 2), row(0.5f, 1.0f, 1.5f), row(1, 1, 1), 0.9, 0.0);
        assertArrayEquals(new float[] {1.4f, 0.35f, 0.5f}, Tensors.toFloats(g.advantages()), EPS);
    }

    @Test
    void positionsAfterTheEndDoNotLeakIntoTheResponse() {
        // row 0: the three-step case with a masked 4th position holding r = 5, V = 9
        // row 1: mask 1, 1, 0, 0 with r = 1, 0, 7, 7 and V = 0.5, 1.0, 9, 9; the 7s and 9s must not count:
        //   t = 1: δ = 0 + 0.9·0 − 1.0 = −1.0 (V_2 is taken as 0);  A_1 = −1.0
        //   t = 0: δ = 1 + 0.9·1.0 − 0.5 = 1.4;                     A_0 = 1.4 + 0.855·(−1.0) = 0.545
        //   R = 0.545 + 0.5 = 1.045, −1.0 + 1.0 = 0
        // masked positions: A = R = 0
        Tensor r = Tensors.floats(new float[] {1, 0, 2, 5, 1, 0, 7, 7}, 2, 4);
        Tensor v = Tensors.floats(new float[] {0.5f, 1.0f, 1.5f, 9, 0.5f, 1.0f, 9, 9}, 2, 4);
        Tensor m = Tensors.floats(new float[] {1, 1, 1, 0, 1, 1, 0, 0}, 2, 4);
        Gae.Result g = Gae.compute(r, v, m, 0.9, 0.95);
        assertArrayEquals(new float[] {2.0647625f, 0.7775f, 0.5f, 0, 0.545f, -1.0f, 0, 0},
                Tensors.toFloats(g.advantages()), EPS);
        assertArrayEquals(new float[] {2.5647625f, 1.7775f, 2.0f, 0, 1.045f, 0, 0, 0},
                Tensors.toFloats(g.returns()), EPS);
    }

    @Test
    void aPaddedRowEqualsTheSameRowWithoutPadding() {
        Gae.Result padded = Gae.compute(row(0.3f, -0.2f, 4, 4), row(0.1f, 0.7f, -8, 8), row(1, 1, 0, 0), 1.0, 0.95);
        Gae.Result trimmed = Gae.compute(row(0.3f, -0.2f), row(0.1f, 0.7f), row(1, 1), 1.0, 0.95);
        float[] a = Tensors.toFloats(padded.advantages());
        float[] b = Tensors.toFloats(trimmed.advantages());
        assertArrayEquals(b, new float[] {a[0], a[1]}, 1e-6f);
    }

    @Test
    void integerMasksAreAccepted() {
        Tensor m = Tensors.longs(new long[][] {{1, 1, 1}}, null);
        Gae.Result g = Gae.compute(row(1, 2, 3), row(0, 0, 0), m, 1.0, 1.0);
        assertArrayEquals(new float[] {6, 5, 3}, Tensors.toFloats(g.advantages()), EPS);
    }

    @Test
    void resultsAreDetached() {
        Tensor r = row(1, 2, 3).set_requires_grad(true);
        Tensor v = row(0.5f, 0.5f, 0.5f).set_requires_grad(true);
        Gae.Result g = Gae.compute(r, v, row(1, 1, 1), 1.0, 0.95);
        assertFalse(g.advantages().requires_grad());
        assertFalse(g.returns().requires_grad());
    }

    @Test
    void aMaskWithAHoleOrNonBinaryEntriesIsRejected() {
        IllegalArgumentException hole = assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(row(1, 2, 3), row(0, 0, 0), row(1, 0, 1), 1.0, 1.0));
        assertTrue(hole.getMessage().contains("ones then zeros"), hole.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(row(1, 2, 3), row(0, 0, 0), row(1, 0.5f, 0), 1.0, 1.0));
    }

    @Test
    void invalidDiscountsAndShapesAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(row(1, 2), row(0, 0), row(1, 1), 1.1, 0.95));
        assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(row(1, 2), row(0, 0), row(1, 1), 1.0, -0.1));
        assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(row(1, 2), row(0, 0, 0), row(1, 1), 1.0, 0.95));
        assertThrows(IllegalArgumentException.class,
                () -> Gae.compute(Tensors.floats(new float[] {1, 2}, 2), Tensors.floats(new float[] {0, 0}, 2),
                        Tensors.floats(new float[] {1, 1}, 2), 1.0, 0.95));
    }
}
