package dev.keel.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class SamplerTest {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void topKTwoKeepsTheTwoLargestLogits() {
        Tensor l = Tensors.floats(new float[] {1, 3, 2, 0}, 1, 4);
        assertArrayEquals(new float[] {NEG_INF, 3, 2, NEG_INF}, Tensors.toFloats(Sampler.filter(l, 2, 1.0)));
    }

    @Test
    void topPKeepsTokensWhoseHigherRankedMassIsBelowP() {
        // probabilities 0.5, 0.3, 0.2 (logits ln p). Mass ranked strictly above each: 0, 0.5, 0.8.
        // p = 0.7 keeps the first two (0 and 0.5 < 0.7); p = 0.5 keeps only the first (0.5 is not < 0.5),
        // as transformers' TopPLogitsWarper: ascending cumsum 0.2, 0.5, 1.0 removes those <= 1 - p.
        float[] logits = {(float) Math.log(0.2), (float) Math.log(0.5), (float) Math.log(0.3)};
        Tensor l = Tensors.floats(logits, 1, 3);
        assertArrayEquals(new float[] {NEG_INF, logits[1], logits[2]}, Tensors.toFloats(Sampler.filter(l, 0, 0.7)));
        assertArrayEquals(new float[] {NEG_INF, logits[1], NEG_INF}, Tensors.toFloats(Sampler.filter(l, 0, 0.5)));
    }

    @Test
    void seededDrawsFollowTheDistribution() {
        // 20,000 rows of p = (0.5, 0.3, 0.2): counts within 4 standard deviations (sd <= 71)
        int rows = 20_000;
        float[] l = new float[rows * 3];
        for (int r = 0; r < rows; r++) {
            l[3 * r] = (float) Math.log(0.5);
            l[3 * r + 1] = (float) Math.log(0.3);
            l[3 * r + 2] = (float) Math.log(0.2);
        }
        SamplingConfig cfg = new SamplingConfig(1, 1.0, 0, 1.0, 9, Set.of(), true);
        long[] draws = Tensors.toLongs(Sampler.next(Tensors.floats(l, rows, 3), cfg, torch.make_generator_cpu(9)));
        int[] counts = new int[3];
        for (long d : draws) {
            counts[(int) d]++;
        }
        assertEquals(10_000, counts[0], 4 * 71);
        assertEquals(6_000, counts[1], 4 * 65);
        assertEquals(4_000, counts[2], 4 * 57);
    }

    @Test
    void drawsNeverPickAZeroProbabilityEntryAndNeedNoNormalisation() {
        // rows of (0, 1, 0, 0.6, 0.4): twice a distribution, with zeros first, between and never last;
        // 20,000 draws: index 1 half the time (sd 71), 3 and 4 at 0.3 and 0.2, 0 and 2 never
        int rows = 20_000;
        float[] p = new float[rows * 5];
        for (int r = 0; r < rows; r++) {
            p[5 * r + 1] = 1f;
            p[5 * r + 3] = 0.6f;
            p[5 * r + 4] = 0.4f;
        }
        long[] draws = Tensors.toLongs(Sampler.draw(Tensors.floats(p, rows, 5), torch.make_generator_cpu(3)));
        int[] counts = new int[5];
        for (long d : draws) {
            counts[(int) d]++;
        }
        assertEquals(0, counts[0]);
        assertEquals(0, counts[2]);
        assertEquals(10_000, counts[1], 4 * 71);
        assertEquals(6_000, counts[3], 4 * 65);
        assertEquals(4_000, counts[4], 4 * 57);
    }

    @Test
    void logProbsUseTheSamplingTemperature() {
        // logits (0, ln 3) at T = 1: log 3/4 = -0.287682; at T = 2: logits (0, ln 3 / 2), p = sqrt3/(1+sqrt3)
        // = 0.633975, log = -0.455746
        Tensor l = Tensors.floats(new float[] {0f, (float) Math.log(3)}, 1, 2);
        Tensor tok = Tensors.longs(new long[] {1}, null);
        assertEquals(-0.287682, Tensors.toFloats(Sampler.logProbs(l, tok, 1.0))[0], 1e-6);
        assertEquals(-0.455746, Tensors.toFloats(Sampler.logProbs(l, tok, 2.0))[0], 1e-6);
    }
}
