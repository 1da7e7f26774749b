package dev.keel.train;

import dev.keel.loss.KlEstimator;

/**
 * Settings of the reward-based trainers (algorithms.md §4, §5), with TRL's defaults where TRL has one.
 *
 * @param algorithm         PPO (with a value model), RLOO or GRPO (critic-free, k samples per prompt)
 * @param iterations        rollout-and-update rounds
 * @param batchPrompts      prompts per rollout
 * @param samplesPerPrompt  k: completions sampled per prompt (1 for PPO; at least 2 for RLOO and GRPO)
 * @param miniBatchSize     sequences per gradient step within an update epoch
 * @param updateEpochs      passes over each rollout (TRL's num_ppo_epochs, GRPO's num_iterations)
 * @param maxNewTokens      response length limit (TRL's response_length)
 * @param temperature       sampling temperature; log-probs are computed with logits / T too
 * @param klCoef            β of the KL penalty (initial value when adaptive)
 * @param klTarget          target KL of the adaptive controller (0 = fixed β)
 * @param klHorizon         horizon of the adaptive controller
 * @param clipRange         ε of the clipped policy objective
 * @param clipRangeValue    ε_v of the clipped value loss
 * @param vfCoef            weight of the value loss
 * @param gamma             discount
 * @param lambda            GAE λ
 * @param whitenRewards     whiten the per-token rewards before GAE
 * @param rewardClip        clip scores to [−c, c] (0 = off)
 * @param missingEosPenalty subtracted from the score of a completion with no EOS (NaN = off)
 * @param refEmaDecay       move the reference towards the policy after each update by this EMA decay
 *                          (0 = frozen reference; Xu et al. 2024)
 */
public record RlConfig(Algorithm algorithm, int iterations, int batchPrompts, int samplesPerPrompt, int miniBatchSize,
                       int updateEpochs, int maxNewTokens, double temperature, double klCoef, KlEstimator klEstimator,
                       double klTarget, double klHorizon, double clipRange, double clipRangeValue, double vfCoef,
                       double gamma, double lambda, boolean whitenRewards, double rewardClip, double missingEosPenalty,
                       double refEmaDecay, long seed) {

    public enum Algorithm { PPO, RLOO, GRPO }

    public RlConfig {
        if (iterations < 1 || batchPrompts < 1 || miniBatchSize < 1 || updateEpochs < 1 || maxNewTokens < 1) {
            throw new IllegalArgumentException("--iterations, --batch-size, --mini-batch-size, --num-ppo-epochs and "
                    + "--max-new-tokens must be at least 1");
        }
        if (algorithm == Algorithm.PPO && samplesPerPrompt != 1) {
            throw new IllegalArgumentException("PPO samples one completion per prompt (--num-generations 1)");
        }
        if (algorithm != Algorithm.PPO && samplesPerPrompt < 2) {
            throw new IllegalArgumentException(algorithm + " needs --num-generations of at least 2, got " + samplesPerPrompt);
        }
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("--temperature must be > 0 for RL sampling, got " + temperature);
        }
        if (klCoef < 0 || klTarget < 0 || !(klHorizon > 0)) {
            throw new IllegalArgumentException("--kl-coef and --kl-target must be >= 0 and --kl-horizon > 0");
        }
        if (!(clipRange > 0) || !(clipRangeValue > 0) || vfCoef < 0) {
            throw new IllegalArgumentException("--cliprange and --cliprange-value must be > 0, --vf-coef >= 0");
        }
        if (gamma < 0 || gamma > 1 || lambda < 0 || lambda > 1) {
            throw new IllegalArgumentException("--gamma and --lam must be within [0, 1]");
        }
        if (refEmaDecay < 0 || refEmaDecay >= 1) {
            throw new IllegalArgumentException("--ref-ema-decay must be within [0, 1), got " + refEmaDecay);
        }
    }

    /** Sequences per rollout. */
    public int rolloutSize() {
        return batchPrompts * samplesPerPrompt;
    }
}
