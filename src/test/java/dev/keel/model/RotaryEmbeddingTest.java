package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

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
}
