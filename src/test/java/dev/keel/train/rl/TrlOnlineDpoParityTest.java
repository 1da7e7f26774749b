package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.loss.DpoLoss;
import dev.keel.loss.DpoLossType;
import dev.keel.tensor.Tensors;

/** Online DPO's preferences, pairs and loss against TRL's training_step on the fixed batch of the GRPO fixture. */
class TrlOnlineDpoParityTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void sigmoidAndIpoMatchTrl() throws IOException {
        JsonNode fx = dev.keel.loss.TrlGrpoParityTestAccess.fixture();
        Tensor mask = dev.keel.loss.TrlGrpoParityTestAccess.matrix(fx.get("mask"));
        Tensor policy = Tensors.sum(dev.keel.loss.TrlGrpoParityTestAccess.matrix(fx.get("logps")).mul(mask), 1, false);
        Tensor ref = Tensors.sum(dev.keel.loss.TrlGrpoParityTestAccess.matrix(fx.get("ref")).mul(mask), 1, false);
        OnlineDpo.Targets t = OnlineDpo.preferences(dev.keel.loss.TrlGrpoParityTestAccess.vector(fx.get("rewards")));
        OnlineDpo.Pairs p = OnlineDpo.pairs(policy, ref, t);
        for (JsonNode c : fx.get("online_dpo")) {
            DpoLoss.Result r = DpoLoss.compute(DpoLossType.parse(c.get("loss_type").asText()), p.policyChosen(),
                    p.policyRejected(), p.refChosen(), p.refRejected(), c.get("beta").asDouble(), 0.0);
            double loss = Tensors.item(r.losses().mean());
            String what = c.get("loss_type").asText() + " beta " + c.get("beta").asDouble();
            assertEquals(c.get("loss").asDouble(), loss, 1e-6 * Math.max(1, Math.abs(loss)), what);
            assertEquals(c.get("margin").asDouble(), Tensors.item(r.chosenRewards().sub(r.rejectedRewards()).mean()), 1e-6,
                    what + ": margin");
        }
    }
}
