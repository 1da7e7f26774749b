package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.Rewards;
import dev.keel.tensor.Tensors;
import dev.keel.train.CausalLMState;

/** PPO's starting value model: Keel's one rule, from the reward model when tokenizers match, else a zero head. */
class CriticTest {
    @TempDir
    static Path tmp;

    static Path policy;
    static Path rewardModel;
    static dev.keel.tokenizer.Tokenizer policyTok;

    @BeforeAll
    static void models() {
        TestSupport.init();
        policy = TinyModels.llama(tmp.resolve("policy"), 3);
        policyTok = dev.keel.tokenizer.Tokenizer.load(policy);
        CausalLM rm = ModelFiles.load(policy, null, null, Head.SCORE);   // a new, non-zero head
        rewardModel = tmp.resolve("rm");
        new CausalLMState(rm, policy).save(rewardModel);
    }

    private static float headSum(Critic c) {
        float s = 0;
        for (float v : Tensors.toFloats(c.model().weights().get(CausalLM.SCORE).abs())) {
            s += v;
        }
        return s;
    }

    @Test
    void aRewardModelWithThePolicysTokenizerGivesItsWeights() {
        try (ModelReward r = new ModelReward(rewardModel, null, 4)) {
            List<String> warnings = new ArrayList<>();
            Critic c = Critic.start(policy, policyTok, r, null, warnings::add);
            float[] want = Tensors.toFloats(ModelFiles.load(rewardModel, null, null, Head.SCORE).weights().get(CausalLM.SCORE));
            org.junit.jupiter.api.Assertions.assertArrayEquals(want,
                    Tensors.toFloats(c.model().weights().get(CausalLM.SCORE)));
            assertTrue(headSum(c) > 0);
            assertTrue(warnings.isEmpty(), warnings.toString());
        }
    }

    @Test
    void aBuiltinRewardGivesThePolicyWithAZeroHead() {
        Critic c = Critic.start(policy, policyTok, Rewards.open("builtin:count:great", 4), null, w -> { });
        assertEquals(0f, headSum(c));
    }

    @Test
    void aRewardModelWithAnotherTokenizerGivesAZeroHeadAndAWarning() throws Exception {
        Path other = tmp.resolve("rm-other");
        new CausalLMState(ModelFiles.load(rewardModel, null, null, Head.SCORE), rewardModel).save(other);
        Files.writeString(other.resolve("tokenizer.json"), Files.readString(other.resolve("tokenizer.json")) + "\n");
        try (ModelReward r = new ModelReward(other, null, 4)) {
            List<String> warnings = new ArrayList<>();
            Critic c = Critic.start(policy, policyTok, r, null, warnings::add);
            assertEquals(0f, headSum(c));
            assertEquals(1, warnings.size());
        }
    }
}
