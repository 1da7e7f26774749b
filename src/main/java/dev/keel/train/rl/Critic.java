package dev.keel.train.rl;

import java.nio.file.Path;
import java.util.function.Consumer;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;

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
     * that reads the policy's token ids ({@link RewardSource#ids}: the same tokenizer), as TRL starts the value
     * model from the reward model; else the policy's decoder with a zero scalar head.
     *
     * @param policyTok the policy's tokenizer
     * @param warn      told when a reward model is passed over because its tokenizer differs
     */
    public static Critic start(Path policyDir, Tokenizer policyTok, RewardSource reward, DType dtype,
                               Consumer<String> warn) {
        if (reward instanceof ModelReward mr) {
            if (mr.ids(policyTok).isPresent()) {
                return new Critic(ModelFiles.load(mr.dir(), dtype, null, Head.SCORE));
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
}
