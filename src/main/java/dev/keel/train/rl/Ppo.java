package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.util.Optional;
import java.util.function.UnaryOperator;

import org.bytedeco.pytorch.Tensor;

import dev.keel.loss.Gae;
import dev.keel.loss.Masked;
import dev.keel.loss.PpoLoss;

/**
 * PPO for RLHF (Ouyang et al. 2022; Huang et al., "The N Implementation Details of RLHF with PPO"; TRL's
 * PPOTrainer; docs/ALGORITHMS.md §4): per-token reward −β·kl_t with the score on the last real token, a value
 * model, GAE, whitened advantages, clipped policy and value losses.
 *
 * @param vfCoef         weight of the value loss (TRL's {@code vf_coef}, 0.1)
 * @param clipRangeValue ε_v of the clipped value loss (TRL's {@code cliprange_value}, 0.2)
 * @param gamma          discount (1.0)
 * @param lambda         GAE λ (TRL's {@code lam}, 0.95)
 * @param whitenRewards  whiten the per-token rewards before GAE (TRL's {@code whiten_rewards}, off)
 * @param whitenAdvantages whiten the GAE advantages over the rollout (TRL always does; one of the factors Xu et
 *                       al. 2024 find PPO needs; off only to measure that)
 */
public record Ppo(double vfCoef, double clipRangeValue, double gamma, double lambda, boolean whitenRewards,
                  boolean whitenAdvantages)
        implements RlAlgorithm<Ppo.Targets> {
    public Ppo {
        if (!(clipRangeValue > 0) || !(vfCoef >= 0) || Double.isInfinite(clipRangeValue) || Double.isInfinite(vfCoef)) {
            throw new IllegalArgumentException("--cliprange-value must be > 0 and --vf-coef >= 0");
        }
        if (!(gamma >= 0 && gamma <= 1) || !(lambda >= 0 && lambda <= 1)) {
            throw new IllegalArgumentException("--gamma and --lam must be within [0, 1]");
        }
    }

    /** TRL's defaults. */
    public static Ppo defaults() {
        return new Ppo(0.1, 0.2, 1.0, 0.95, false, true);
    }

    /**
     * @param advantages (B, R) whitened GAE advantages, 0 at padding
     * @param returns    (B, R) GAE returns
     * @param valuesOld  (B, R) the value model's predictions at rollout, 0 at padding
     */
    public record Targets(Tensor advantages, Tensor returns, Tensor valuesOld) {}

    @Override
    public String name() {
        return "ppo";
    }

    @Override
    public int samplesPerPrompt() {
        return 1;
    }

    /** TRL's {@code PPOTrainer}: {@code logprob = selective_log_softmax(logits, response)} on the generation's logits. */
    @Override
    public boolean logProbsFromSampling() {
        return true;
    }

    @Override
    public boolean usesCritic() {
        return true;
    }

    @Override
    public Targets targets(Scored r, Critic critic, double klCoef) {
        return targets(r, critic, klCoef, UnaryOperator.identity());
    }

    /**
     * The whitening's mean and variance are over the whole rollout: from {@link Masked#moments} summed over the
     * ranks by {@code sumOverRanks} (the identity for one process).
     */
    @Override
    public Targets targets(Scored r, Critic critic, double klCoef, UnaryOperator<double[]> sumOverRanks) {
        Tensor valuesOld = java.util.Objects.requireNonNull(r.values(), "PPO's rollout is scored with its value model");
        Tensor rewards = r.kl().mul(s(-klCoef)).add(r.rollout().atLast(r.score()));
        if (whitenRewards) {
            rewards = Masked.whiten(rewards, sumOverRanks.apply(Masked.moments(rewards, r.mask())), false);
        }
        Gae.Result gae = Gae.compute(rewards, valuesOld, r.mask(), gamma, lambda);
        Tensor adv = (whitenAdvantages
                ? Masked.whiten(gae.advantages(), sumOverRanks.apply(Masked.moments(gae.advantages(), r.mask())), true)
                : gae.advantages()).mul(r.mask());
        return new Targets(adv, gae.returns(), valuesOld);
    }

    /** PPO's losses are masked means over the minibatch's tokens, so ranks' shares weigh by their tokens. */
    @Override
    public boolean dataParallel() {
        return true;
    }

    @Override
    public Targets select(Targets t, Tensor index) {
        return new Targets(t.advantages().index_select(0, index), t.returns().index_select(0, index),
                t.valuesOld().index_select(0, index));
    }

    @Override
    public StepLoss loss(Minibatch mb, Targets t, Critic critic, double klCoef, RlConfig cfg) {
        PpoLoss.Policy pg = PpoLoss.policy(mb.logpNew(), mb.logpOld(), t.advantages(), mb.mask(),
                cfg.updates().clipRange());
        Tensor vpred = critic.values(mb.rollout());
        PpoLoss.Value vf = PpoLoss.value(vpred, t.valuesOld(), t.returns(), mb.mask(), clipRangeValue);
        Tensor total = pg.loss().add(vf.loss().mul(s(vfCoef)));
        return new StepLoss(total, pg.loss(), pg.clipFrac(), pg.approxKl(), Optional.of(vf));
    }
}
