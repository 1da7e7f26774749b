package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/**
 * Keel's KTO, ORPO and CPO/SimPO losses against TRL's code on one fixed batch of per-token log-probs:
 * src/test/fixtures/losses/trl_losses.json, written by scripts/reference/trl_losses.py (TRL's loss functions in
 * plain PyTorch, float32). A missing fixture fails the test.
 */
class TrlLossParityTest {
    private static final Path FIXTURE = Path.of("src/test/fixtures/losses/trl_losses.json");
    private static JsonNode fx;

    @BeforeAll
    static void load() throws IOException {
        TestSupport.init();
        assertTrue(Files.isRegularFile(FIXTURE), FIXTURE + " is missing: run "
                + "OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/trl_losses.py");
        fx = new ObjectMapper().readTree(Files.readString(FIXTURE));
    }

    /** |keel − trl| within 1e-6, relative above 1 (float32 on both sides). */
    private static void close(double trl, double keel, String what) {
        assertEquals(trl, keel, 1e-6 * Math.max(1, Math.abs(trl)), what);
    }

    private static void close(JsonNode trl, float[] keel, String what) {
        assertEquals(trl.size(), keel.length, what + " length");
        for (int i = 0; i < keel.length; i++) {
            close(trl.get(i).asDouble(), keel[i], what + "[" + i + "]");
        }
    }

    private static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) a.get(i).asDouble();
        }
        return f;
    }

    private static Tensor t(float[] v) {
        return Tensors.floats(v, v.length);
    }

    /** Keel's per-sequence sums and counts of the fixture's (B, T) token log-probs and masks. */
    private static LogProbs.Sums sums(String tokens, String mask) {
        JsonNode tk = fx.get(tokens);
        JsonNode m = fx.get(mask);
        int b = tk.size();
        int len = tk.get(0).size();
        float[] lp = new float[b * len];
        float[] mk = new float[b * len];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < len; j++) {
                lp[i * len + j] = (float) tk.get(i).get(j).asDouble();
                mk[i * len + j] = (float) m.get(i).get(j).asDouble();
            }
        }
        Tensor mask2 = Tensors.floats(mk, b, len);
        Tensor s = Tensors.sum(Tensors.floats(lp, b, len).mul(mask2), 1, false);
        Tensor c = Tensors.sum(mask2.to(org.bytedeco.pytorch.global.torch.ScalarType.Long), 1, false);
        return new LogProbs.Sums(s, c);
    }

    @Test
    void ktoMatchesTrlsKtoLoss() {
        float[] policy = floats(fx.get("kto_policy"));
        float[] reference = floats(fx.get("kto_reference"));
        JsonNode label = fx.get("kto_label");
        float[] d = new float[label.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = label.get(i).asBoolean() ? 1 : 0;
        }
        for (JsonNode c : fx.get("kto")) {
            KtoLoss.Result r = KtoLoss.compute(t(policy), t(reference), t(d), t(floats(fx.get("kto_policy_kl"))),
                    t(floats(c.get("reference_kl"))), c.get("beta").asDouble(), c.get("desirable_weight").asDouble(),
                    c.get("undesirable_weight").asDouble());
            String what = "kto beta " + c.get("beta") + " kl " + c.get("kl");
            close(c.get("kl").asDouble(), r.kl(), what + " kl");
            close(c.get("loss").asDouble(), Tensors.item(r.losses().mean()), what + " loss");
            // TRL concatenates the desirable losses, then the undesirable ones; Keel keeps batch order
            float[] losses = Tensors.toFloats(r.losses());
            float[] rewards = Tensors.toFloats(r.rewards());
            List<Float> ordered = new ArrayList<>();
            List<Float> chosen = new ArrayList<>();
            List<Float> rejected = new ArrayList<>();
            for (int pass = 0; pass < 2; pass++) {
                for (int i = 0; i < d.length; i++) {
                    if ((d[i] == 1) == (pass == 0)) {
                        ordered.add(losses[i]);
                        (pass == 0 ? chosen : rejected).add(rewards[i]);
                    }
                }
            }
            close(c.get("losses_chosen_then_rejected"), toArray(ordered), what + " losses");
            close(c.get("chosen_rewards"), toArray(chosen), what + " chosen rewards");
            close(c.get("rejected_rewards"), toArray(rejected), what + " rejected rewards");
        }
    }

    @Test
    void orpoMatchesTrlsOddsRatioLoss() {
        LogProbs.Sums chosen = sums("chosen_tokens", "chosen_mask");
        LogProbs.Sums rejected = sums("rejected_tokens", "rejected_mask");
        for (JsonNode c : fx.get("orpo")) {
            Tensor nll = OrpoLoss.nll(chosen.logProbs(), chosen.counts());
            OrpoLoss.Result r = OrpoLoss.compute(CpoLoss.perToken(chosen), CpoLoss.perToken(rejected), nll,
                    c.get("beta").asDouble());
            String what = "orpo beta " + c.get("beta");
            close(c.get("nll_loss").asDouble(), Tensors.item(nll), what + " nll");
            close(c.get("loss").asDouble(), Tensors.item(r.losses().mean()), what + " loss");
            close(c.get("chosen_rewards"), Tensors.toFloats(r.chosenRewards()), what + " chosen rewards");
            close(c.get("rejected_rewards"), Tensors.toFloats(r.rejectedRewards()), what + " rejected rewards");
            close(c.get("log_odds_ratio").asDouble(), Tensors.item(r.logSigmoidOdds().mean()), what + " log_odds_ratio");
            close(c.get("log_odds_chosen").asDouble(), Tensors.item(r.logOdds().mean()), what + " log_odds_chosen");
        }
    }

    @Test
    void cpoAndSimpoMatchTrlsCpoLossForEveryLossType() {
        LogProbs.Sums chosen = sums("chosen_tokens", "chosen_mask");
        LogProbs.Sums rejected = sums("rejected_tokens", "rejected_mask");
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (JsonNode c : fx.get("cpo")) {
            CpoLossType type = CpoLossType.parse(c.get("loss_type").asText());
            seen.add(type.trlName());
            Tensor nll = OrpoLoss.nll(chosen.logProbs(), chosen.counts());
            CpoLoss.Result r = CpoLoss.compute(type, CpoLoss.logProbs(type, chosen), CpoLoss.logProbs(type, rejected),
                    nll, c.get("beta").asDouble(), c.get("label_smoothing").asDouble(), c.get("simpo_gamma").asDouble(),
                    c.get("cpo_alpha").asDouble());
            String what = "cpo " + type.trlName() + " beta " + c.get("beta") + " eps " + c.get("label_smoothing")
                    + " alpha " + c.get("cpo_alpha");
            close(c.get("loss").asDouble(), Tensors.item(r.losses().mean()), what + " loss");
            close(c.get("chosen_rewards"), Tensors.toFloats(r.chosenRewards()), what + " chosen rewards");
            close(c.get("rejected_rewards"), Tensors.toFloats(r.rejectedRewards()), what + " rejected rewards");
        }
        assertEquals(java.util.Set.of("sigmoid", "hinge", "ipo", "simpo"), seen, "every loss type has a case");
    }

    private static float[] toArray(List<Float> l) {
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = l.get(i);
        }
        return f;
    }
}
