package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/** LoRA's formulas on values worked out by hand (docs/ALGORITHMS.md §8). */
class LoraTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    // x = [1, 2]; W = [[1, 0], [0, 1], [1, 1]] so W x = [1, 2, 3]; A = [[1, 1]] (r = 1); B = [[2], [0], [-1]]
    private static final Tensor X = Tensors.floats(new float[] {1, 2}, 1, 2);
    private static final Tensor WX = Tensors.floats(new float[] {1, 2, 3}, 1, 3);
    private static final Tensor A = Tensors.floats(new float[] {1, 1}, 1, 2);
    private static final Tensor B = Tensors.floats(new float[] {2, 0, -1}, 3, 1);

    @Test
    void theUpdateIsScalingTimesBTimesATimesX() {
        // A x = 3; B (A x) = [6, 0, -3]; alpha 2, r 1: scaling 2 gives [12, 0, -6]; plus W x = [13, 2, -3]
        Tensor h = Lora.forward(WX, X, A, B, Lora.scaling(2, 1, false), 0, true);
        assertArrayEquals(new float[] {13, 2, -3}, Tensors.toFloats(h), 1e-6f);
    }

    @Test
    void dropoutAppliesOnlyWhileTraining() {
        // p = 0.9 out of training changes nothing; in training it zeroes or rescales x (by 1 / 0.1) before A
        Tensor h = Lora.forward(WX, X, A, B, 2, 0.9, false);
        assertArrayEquals(new float[] {13, 2, -3}, Tensors.toFloats(h), 1e-6f);
        org.bytedeco.pytorch.global.torch.manual_seed(1);
        float[] t = Tensors.toFloats(Lora.forward(WX, X, A, B, 2, 0.9, true));
        // the update's first row is 4 * (A dropout(x)): 0, 4 * 10, 4 * 20 or 4 * 30 added to 1
        assertTrue(List.of(1f, 41f, 81f, 121f).contains(t[0]), "first output " + t[0]);
    }

    @Test
    void scalingIsAlphaOverRankOrOverItsRootWithRsLora() {
        assertEquals(4.0, Lora.scaling(16, 4, false), 0);
        assertEquals(8.0, Lora.scaling(16, 4, true), 0);
        assertEquals(1.0, LoraConfig.defaults(8, "llama").scaling(), 0);
    }

    @Test
    void theMergedDeltaIsScalingBA_transposedForFanInFanOut() {
        // B A = [[2, 2], [0, 0], [-1, -1]]; times 2
        Tensor d = Lora.delta(A, B, 2, false);
        assertArrayEquals(new long[] {3, 2}, Tensors.shape(d));
        assertArrayEquals(new float[] {4, 4, 0, 0, -2, -2}, Tensors.toFloats(d), 0f);
        Tensor t = Lora.delta(A, B, 2, true);
        assertArrayEquals(new long[] {2, 3}, Tensors.shape(t));
        assertArrayEquals(new float[] {4, 0, -2, 4, 0, -2}, Tensors.toFloats(t), 0f);
    }

    @Test
    void aStartsAsNnLinearWithinOneOverRootInAndBAtZero() {
        assertEquals(0.25, Lora.initBound(16), 0);
        org.bytedeco.pytorch.global.torch.manual_seed(3);
        LoraAdapters a = LoraAdapters.init(LoraConfig.defaults(4, "llama"), false,
                java.util.Map.of("m", new long[] {5, 16}), org.bytedeco.pytorch.global.torch.ScalarType.Float,
                new org.bytedeco.pytorch.Device("cpu"));
        float[] av = Tensors.toFloats(a.pairs().get("m").a());
        assertEquals(4 * 16, av.length);
        double max = 0;
        for (float v : av) {
            max = Math.max(max, Math.abs(v));
        }
        assertTrue(max <= 0.25 && max > 0.2, "|A| max " + max);
        for (float v : Tensors.toFloats(a.pairs().get("m").b())) {
            assertEquals(0f, v);
        }
    }

    @Test
    void targetsMatchAsPeftDoes_byNameOrDottedSuffix() {
        LoraConfig c = new LoraConfig(2, 8, 0, List.of("q_proj", "mlp.down_proj"), false);
        List<String> linear = List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
                "model.layers.0.mlp.down_proj", "model.layers.0.mlp.up_proj");
        assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"), c.select(linear, "llama"));
        assertEquals(linear, new LoraConfig(2, 8, 0, List.of("all-linear"), false).select(linear, "llama"));
        assertEquals(List.of("down_proj", "k_proj", "q_proj", "up_proj"), LoraConfig.leafNames(linear));
    }

    @Test
    void anUnknownTargetModuleIsRefusedNamingItAndTheLayersThereAre() {
        LoraConfig c = new LoraConfig(2, 8, 0, List.of("q_proj", "w_proj"), false);
        KeelException e = assertThrows(KeelException.class,
                () -> c.select(List.of("model.layers.0.self_attn.q_proj"), "llama"));
        assertTrue(e.getMessage().contains("'w_proj'") && e.getMessage().contains("q_proj"), e.getMessage());
    }

    @Test
    void settingsOutOfRangeAreRefusedWithTheOptionName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 8, 0, List.of("q_proj"), false))
                .getMessage().contains("--lora-r"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LoraConfig(4, 8, 1, List.of("q_proj"), false))
                .getMessage().contains("--lora-dropout"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(4, 8, 0, List.of("all-linear", "q_proj"), false)).getMessage().contains("all-linear"));
    }
}
