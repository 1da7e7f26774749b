package dev.keel.train.rl;

import java.util.Optional;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import org.bytedeco.pytorch.Tensor;

import dev.keel.loss.PpoLoss;

/**
 * A reward-based fine-tuning method: what it learns from a scored rollout (its targets: advantages, and for
 * PPO returns and old values) and the loss of one minibatch. The loop in {@link RlTrainer} is the same for
 * every method: rollout → score → {@link #targets} → epochs of minibatch {@link #loss}es. The math lives in
 * {@code dev.keel.loss}; a method only picks it (docs/ALGORITHMS.md §4, §5).
 *
 * @param <T> the method's targets
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.PROPERTY, property = "name")
@JsonSubTypes({@JsonSubTypes.Type(value = Ppo.class, name = "ppo"), @JsonSubTypes.Type(value = Rloo.class, name = "rloo"),
        @JsonSubTypes.Type(value = Grpo.class, name = "grpo"), @JsonSubTypes.Type(value = OnlineDpo.class, name = "online-dpo")})
public sealed interface RlAlgorithm<T> permits Ppo, Rloo, Grpo, OnlineDpo {
    /** The command's name: ppo, rloo, grpo, online-dpo. */
    String name();

    /** Completions sampled per prompt (k). */
    int samplesPerPrompt();

    /**
     * The temperature the method's log-probs are computed at: the sampling temperature (logits / T, as TRL's
     * PPO, RLOO and GRPO), or 1 for methods that score the raw model (TRL's online DPO).
     */
    default double logProbTemperature(double samplingTemperature) {
        return samplingTemperature;
    }

    /**
     * Whether log π_old is what the sampler computed for each token it drew (log-softmax of the generation's
     * logits / T), as TRL's {@code PPOTrainer} reads it from the generation's scores, rather than a pass of the
     * policy over the rollout (TRL's GRPO and RLOO compute it with a forward pass). Then scoring runs no policy pass.
     */
    default boolean logProbsFromSampling() {
        return false;
    }

    /** Whether every minibatch must be the whole rollout (a loss over pairs of rows that must stay together). */
    default boolean needsWholeRollout() {
        return false;
    }

    /** Whether the method trains a value model ({@link Critic}) next to the policy. */
    default boolean usesCritic() {
        return false;
    }

    /** What the updates learn from, for one rollout; {@code critic} is null unless {@link #usesCritic}. */
    T targets(Scored rollout, Critic critic, double klCoef);

    /**
     * {@link #targets(Scored, Critic, double)} when {@code rollout} is one rank's share of a data-parallel rollout:
     * statistics over the whole rollout (PPO's whitening) go through {@code sumOverRanks}, which sums arrays over
     * the ranks. By default the targets need none (they are per prompt group, and groups stay on one rank).
     */
    default T targets(Scored rollout, Critic critic, double klCoef, java.util.function.UnaryOperator<double[]> sumOverRanks) {
        return targets(rollout, critic, klCoef);
    }

    /** Whether the method's targets and loss are written for data-parallel updates ({@link #targets(Scored, Critic, double, java.util.function.UnaryOperator)}; PPO's are). */
    default boolean dataParallel() {
        return false;
    }

    /**
     * What a minibatch's loss is a mean over, so that a data-parallel rank weights its part of a minibatch by its
     * share of it: response tokens (PPO; GRPO's bnpo and dapo) or sequences (RLOO; GRPO's grpo and dr_grpo).
     */
    enum LossMean { TOKENS, SEQUENCES }

    /** {@link LossMean} of this method's loss (default: over tokens). */
    default LossMean lossMean() {
        return LossMean.TOKENS;
    }

    /** Rows {@code index} of {@code targets}, for a minibatch. */
    T select(T targets, Tensor index);

    /**
     * The loss of one minibatch, with its diagnostics; {@code critic} is null unless {@link #usesCritic}; {@code cfg}
     * gives the clip range and the sampling limit.
     */
    StepLoss loss(Minibatch mb, T targets, Critic critic, double klCoef, RlConfig cfg);

    /**
     * One minibatch's loss and what is logged of it.
     *
     * @param total      0-dim loss to back-propagate
     * @param policy     0-dim policy-gradient part (TRL's {@code loss/policy_avg})
     * @param clipFrac   0-dim fraction of clipped ratios
     * @param approxKl   0-dim approximate KL to the sampling policy
     * @param value      PPO's clipped value loss, empty for critic-free methods
     * @param metrics    the method's own diagnostics by TRL's names (online DPO's rewards/margins, ...)
     */
    record StepLoss(Tensor total, Tensor policy, Tensor clipFrac, Tensor approxKl, Optional<PpoLoss.Value> value,
                    java.util.Map<String, Double> metrics) {
        public StepLoss(Tensor total, Tensor policy, Tensor clipFrac, Tensor approxKl, Optional<PpoLoss.Value> value) {
            this(total, policy, clipFrac, approxKl, value, java.util.Map.of());
        }
    }
}
