package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import dev.keel.runtime.Natives;
import dev.keel.tensor.Tensors;

import dev.keel.model.io.ModelConfig.RopeScaling;

class RotaryEmbeddingTest {
    @Test
    void defaultFrequenciesAreInversePowersOfTheta() {
        // head_dim 8, theta 10000: 1 / 10000^(2i/8) for i = 0..3 = 1, 0.1, 0.01, 0.001
        assertArrayEquals(new double[] {1, 0.1, 0.01, 0.001},
                RotaryEmbedding.inverseFrequencies(8, 10000, null), 1e-15);
    }

    @Test
    void linearScalingDividesEveryFrequency() {
        assertArrayEquals(new double[] {0.5, 0.05, 0.005, 0.0005},
                RotaryEmbedding.inverseFrequencies(8, 10000, new RopeScaling("linear", 2, 0, 0, 0)), 1e-15);
    }

    @Test
    void llama3ScalingKeepsHighFrequenciesDividesLowOnesAndBlendsBetween() {
        // factor 8, low_freq_factor 1, high_freq_factor 4, original length L = 64:
        // wavelengths 2π/inv = 6.283, 62.83, 628.3, 6283; thresholds L/4 = 16 and L/1 = 64.
        // 6.283 < 16: kept, 1.
        // 16 <= 62.83 <= 64: s = (64/62.83 - 1) / (4 - 1) = 0.0061973, inv = (1-s)*0.1/8 + s*0.1 = 0.0130423
        // 628.3 and 6283 > 64: divided by 8: 0.00125, 0.000125.
        double s = (64 / (2 * Math.PI / 0.1) - 1) / 3;
        double[] want = {1, (1 - s) * 0.1 / 8 + s * 0.1, 0.00125, 0.000125};
        double[] got = RotaryEmbedding.inverseFrequencies(8, 10000, new RopeScaling("llama3", 8, 1, 4, 64));
        assertArrayEquals(want, got, 1e-15);
        assertArrayEquals(new double[] {1, 0.0130423, 0.00125, 0.000125}, got, 1e-7);
    }

    @Test
    void rotatesEachPairOfHalvesByPositionTimesFrequency() {
        Natives.init();
        // head_dim 4, theta 10000: frequencies 1 and 0.01; position 1. rotate_half([1, 2, 3, 4]) = [-3, -4, 1, 2],
        // so x cos + rotate_half(x) sin = [cos 1 - 3 sin 1, 2 cos .01 - 4 sin .01, 3 cos 1 + sin 1, 4 cos .01 + 2 sin .01]
        try (PointerScope scope = new PointerScope()) {
            RotaryEmbedding rope = new RotaryEmbedding(4, 10000, null);
            var cs = rope.cosSin(Tensors.longs(new long[][] {{1}}, null), ScalarType.Float);
            var x = Tensors.floats(new float[] {1, 2, 3, 4}, 1, 1, 1, 4);
            float[] got = Tensors.toFloats(RotaryEmbedding.apply(x, cs[0], cs[1]));
            double c1 = Math.cos(1), s1 = Math.sin(1), c2 = Math.cos(0.01), s2 = Math.sin(0.01);
            assertArrayEquals(new float[] {(float) (c1 - 3 * s1), (float) (2 * c2 - 4 * s2), (float) (3 * c1 + s1),
                    (float) (4 * c2 + 2 * s2)}, got, 1e-6f);
        }
    }
}
