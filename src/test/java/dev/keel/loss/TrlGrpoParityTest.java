package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/**
 * Keel's GRPO advantages and loss against TRL's code for every scale_rewards × loss_type, with and without β and
 * clip-higher: src/test/fixtures/losses/trl_grpo_online_dpo.json, written by
 * scripts/reference/trl_grpo_online_dpo.py. A missing fixture fails the test.
 */
class TrlGrpoParityTest {
    static final Path FIXTURE = Path.of("src/test/fixtures/losses/trl_grpo_online_dpo.json");

    static JsonNode fixture() throws IOException {
        assertTrue(Files.isRegularFile(FIXTURE), FIXTURE + " is missing: run "
                + "OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/trl_grpo_online_dpo.py");
        return new ObjectMapper().readTree(Files.readString(FIXTURE));
    }

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static Tensor matrix(JsonNode rows) {
        int b = rows.size();
        int t = rows.get(0).size();
        float[] v = new float[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                v[i * t + j] = (float) rows.get(i).get(j).asDouble();
            }
        }
        return Tensors.floats(v, b, t);
    }

    static Tensor vector(JsonNode a) {
        float[] v = new float[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) a.get(i).asDouble();
        }
        return Tensors.floats(v, v.length);
    }

    @Test
    void everyScalingAndLossTypeMatchesTrl() throws IOException {
        JsonNode fx = fixture();
        Tensor logp = matrix(fx.get("logps"));
        Tensor old = matrix(fx.get("old"));
        Tensor ref = matrix(fx.get("ref"));
        Tensor mask = matrix(fx.get("mask"));
        Tensor rewards = vector(fx.get("rewards"));
        int k = fx.get("num_generations").asInt();
        int maxLen = fx.get("max_completion_length").asInt();
        assertEquals(24, fx.get("grpo").size());
        for (JsonNode c : fx.get("grpo")) {
            String what = c.get("scale_rewards").asText() + "/" + c.get("loss_type").asText() + " beta "
                    + c.get("beta").asDouble() + " eps_high " + c.get("epsilon_high").asDouble();
            Tensor adv = Grpo.advantages(rewards, k, Grpo.ScaleRewards.parse(c.get("scale_rewards").asText()));
            float[] a = Tensors.toFloats(adv);
            for (int i = 0; i < a.length; i++) {
                assertEquals(c.get("advantages").get(i).asDouble(), a[i], 1e-6, what + ": advantage " + i);
            }
            double loss = Tensors.item(Grpo.loss(logp, old, ref, adv, mask, c.get("epsilon_low").asDouble(),
                    c.get("epsilon_high").asDouble(), c.get("beta").asDouble(),
                    Grpo.LossType.parse(c.get("loss_type").asText()), maxLen).loss());
            assertEquals(c.get("loss").asDouble(), loss, 1e-6 * Math.max(1, Math.abs(loss)), what + ": loss");
        }
    }
}
