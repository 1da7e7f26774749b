package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.generate.Generation;
import dev.keel.loss.DpoLossType;
import dev.keel.tensor.Tensors;

/** Online DPO's pairs and loss, worked out by hand. */
class OnlineDpoTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theHigherScoredCompletionOfEachPromptIsChosenAndATieChoosesTheFirst() {
        // prompt 0: 0.2 < 0.7, the second chosen; prompt 1: 1.0 = 1.0, the first chosen (TRL: first >= second)
        OnlineDpo.Targets t = OnlineDpo.preferences(Tensors.floats(new float[] {0.2f, 0.7f, 1f, 1f}, 4));
        assertArrayEquals(new float[] {-1, 1, 1, -1}, Tensors.toFloats(t.sign()), 0f);
        assertArrayEquals(new long[] {0, 0, 1, 1}, Tensors.toLongs(t.pair()));
    }

    @Test
    void pairsAreGatheredWhateverTheRowOrder() {
        // rows shuffled: (pair 1, rejected), (pair 0, chosen), (pair 1, chosen), (pair 0, rejected)
        OnlineDpo.Targets t = new OnlineDpo.Targets(Tensors.floats(new float[] {-1, 1, 1, -1}, 4),
                Tensors.longs(new long[] {1, 0, 1, 0}, null));
        OnlineDpo.Pairs p = OnlineDpo.pairs(Tensors.floats(new float[] {-4, -1, -2, -3}, 4),
                Tensors.floats(new float[] {-5, -6, -7, -8}, 4), t);
        assertArrayEquals(new float[] {-1, -2}, Tensors.toFloats(p.policyChosen()), 0f);
        assertArrayEquals(new float[] {-3, -4}, Tensors.toFloats(p.policyRejected()), 0f);
        assertArrayEquals(new float[] {-6, -7}, Tensors.toFloats(p.refChosen()), 0f);
        assertArrayEquals(new float[] {-8, -5}, Tensors.toFloats(p.refRejected()), 0f);
    }

    @Test
    void theLossIsDpoOnTheSummedLogProbsOfEachPair() {
        // one prompt, two completions of two tokens; scores 0, 1: the second is chosen
        Generation g = new Generation(List.of(new long[] {5, 6}, new long[] {7, 8}),
                List.of(new float[] {0, 0}, new float[] {0, 0}), List.of(Generation.Finish.EOS, Generation.Finish.EOS));
        Rollout r = Rollout.of(List.of(new long[] {1}, new long[] {1}), g, 0, new Device("cpu"));
        Tensor mask = r.respMask.to(org.bytedeco.pytorch.global.torch.ScalarType.Float);
        // policy sums: row 0 −3, row 1 −1; reference sums: row 0 −2, row 1 −2
        Tensor policy = Tensors.floats(new float[] {-1, -2, -0.5f, -0.5f}, 2, 2);
        Tensor ref = Tensors.floats(new float[] {-1, -1, -1, -1}, 2, 2);
        OnlineDpo dpo = new OnlineDpo(0.1, DpoLossType.SIGMOID);
        OnlineDpo.Targets t = OnlineDpo.preferences(Tensors.floats(new float[] {0, 1}, 2));
        RlAlgorithm.StepLoss loss = dpo.loss(new Minibatch(r, mask, policy, policy, ref), t, null, 0.1,
                RlConfig.defaults(dpo));
        // Δ = (−1 − (−2)) − (−3 − (−2)) = 1 − (−1) = 2; −log σ(0.1 · 2) = −log σ(0.2) = 0.598139
        assertEquals(0.598139, Tensors.item(loss.total()), 1e-5);
        assertEquals(0.2, loss.metrics().get("rewards/margins"), 1e-6);
        assertEquals(1.0, loss.metrics().get("rewards/accuracies"), 0);
        assertEquals(-1.0, loss.metrics().get("logps/chosen"), 1e-6);
    }

    @Test
    void onlyTrlsTwoLossTypesAndWholeRolloutsAreAccepted() {
        assertThrows(IllegalArgumentException.class, () -> new OnlineDpo(0.1, DpoLossType.HINGE));
        OnlineDpo dpo = new OnlineDpo(0.1, DpoLossType.IPO);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RlConfig.defaults(dpo).withUpdates(u -> u.withMiniBatchSize(2)));
        assertEquals(true, e.getMessage().contains("leave out --mini-batch-size"), e.getMessage());
    }
}
