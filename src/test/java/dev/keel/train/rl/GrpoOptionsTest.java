package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalDouble;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.generate.Generation;
import dev.keel.loss.Grpo.LossType;
import dev.keel.loss.Grpo.ScaleRewards;
import dev.keel.tensor.Tensors;

/** GRPO's TRL options as the trainer applies them to a minibatch. */
class GrpoOptionsTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /** Two completions of two tokens, the first ended with EOS, the second cut by the length limit; A = 1, −1. */
    private static RlAlgorithm.StepLoss loss(boolean maskTruncated) {
        Generation g = new Generation(List.of(new long[] {5, 6}, new long[] {7, 8}),
                List.of(new float[] {0, 0}, new float[] {0, 0}), List.of(Generation.Finish.EOS, Generation.Finish.LENGTH));
        Rollout r = Rollout.of(List.of(new long[] {1, 2}, new long[] {3}), g, 0, new Device("cpu"));
        Tensor mask = r.respMask.to(org.bytedeco.pytorch.global.torch.ScalarType.Float);
        Tensor logp = Tensors.floats(new float[] {-1, -2, -3, -4}, 2, 2);
        Minibatch mb = new Minibatch(r, mask, logp, logp, logp);
        Grpo grpo = new Grpo(2, LossType.DAPO, ScaleRewards.GROUP, OptionalDouble.empty(), maskTruncated);
        return grpo.loss(mb, new SequenceAdvantages(Tensors.floats(new float[] {1, -1}, 2)), null, 0.0,
                RlConfig.defaults(grpo));
    }

    @Test
    void maskedTruncatedCompletionsLeaveTheLoss() {
        // ratio 1, per-token loss −A: kept, (−1 − 1 + 1 + 1) / 4 = 0; the cut one masked, (−1 − 1) / 2 = −1
        assertEquals(0.0, Tensors.item(loss(false).total()), 1e-6);
        assertEquals(-1.0, Tensors.item(loss(true).total()), 1e-6);
    }

    @Test
    void trlsDefaultsAndBadSettingsAreNamed() {
        Grpo g = Grpo.of(4);
        assertEquals(LossType.DAPO, g.lossType());
        assertEquals(ScaleRewards.GROUP, g.scaleRewards());
        assertTrue(g.epsilonHigh().isEmpty());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new Grpo(4, LossType.DAPO, ScaleRewards.GROUP, OptionalDouble.of(0), false)).getMessage()
                .contains("--epsilon-high must be > 0"));
    }
}
