package dev.keel.train.rl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;

/**
 * PPO's value model: a decoder with a scalar head, trained with the policy, predicting at each response
 * position the return to go.
 *
 * @param model a model with {@link Head#SCORE}
 */
public record Critic(CausalLM model) {
    public Critic {
        if (model.head() != Head.SCORE) {
            throw new IllegalArgumentException("the value model needs a scalar head (score.weight)");
        }
    }

    /** Value predictions (B, R) at the columns that predict each response token. */
    public Tensor values(Rollout r) {
        return model.scores(r.hidden(model)).to(ScalarType.Float);
    }

    /**
     * Keel's one rule for PPO's starting value model: the reward model's weights when the reward is a model
     * that shares the policy's tokenizer (as TRL starts the value model from the reward model), else the
     * policy's decoder with a zero scalar head.
     *
     * @param warn told when a reward model is passed over because its tokenizer differs
     */
    public static Critic start(Path policyDir, RewardSource reward, DType dtype, Consumer<String> warn) {
        if (reward instanceof ModelReward mr) {
            Path rewardDir = mr.dir();
            if (sameTokenizer(policyDir, rewardDir)) {
                return new Critic(ModelFiles.load(rewardDir, dtype, null, Head.SCORE));
            }
            warn.accept("keel: the reward model's tokenizer differs from the policy's; the value model starts from "
                    + "the policy with a zero head");
        }
        CausalLM v = ModelFiles.load(policyDir, dtype, null, Head.SCORE);
        try (NoGradGuard ng = new NoGradGuard()) {
            v.weights().get(CausalLM.SCORE).zero_();
        }
        return new Critic(v);
    }

    private static boolean sameTokenizer(Path a, Path b) {
        Path ta = a.resolve("tokenizer.json");
        Path tb = b.resolve("tokenizer.json");
        try {
            return Files.isRegularFile(ta) && Files.isRegularFile(tb) && Files.mismatch(ta, tb) == -1;
        } catch (IOException e) {
            throw new KeelException("cannot compare " + ta + " and " + tb + ": " + e.getMessage(), e);
        }
    }
}
