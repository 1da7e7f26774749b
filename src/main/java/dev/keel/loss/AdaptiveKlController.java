package dev.keel.loss;

/**
 * The adaptive KL coefficient of Ziegler et al. 2019 ("Fine-Tuning Language Models from Human Preferences",
 * §2.2), as TRL's {@code AdaptiveKLController.update} and OpenAI's lm-human-preferences write it:
 * <pre>
 *   e = clip(KL / KL_target − 1, −0.2, 0.2)
 *   β ← β · (1 + e · n / horizon)
 * </pre>
 * with KL the observed sequence-level KL of the rollout and n the number of episodes it held. The paper writes
 * β_{t+1} = β_t (1 + K_β e_t) with K_β = 0.1; n / horizon is that gain scaled by the batch. β grows when the
 * policy drifts past the target and shrinks when it stays below; the clip bounds each step to ±0.2·n/horizon.
 */
public final class AdaptiveKlController {
    private AdaptiveKlController() {}

    /**
     * The KL coefficient after one rollout.
     *
     * @param klCoef     β before the update (≥ 0)
     * @param observedKl the rollout's KL estimate (TRL: mean over sequences of Σ_t kl_t), finite
     * @param target     KL_target &gt; 0 (TRL {@code target}, default 6)
     * @param horizon    horizon &gt; 0 (TRL {@code horizon}, default 10000)
     * @param nSteps     n ≥ 0, the number of episodes (sequences) since the last update (TRL: the batch size)
     * @return the updated β
     * @throws IllegalArgumentException on a negative or non-finite β, a non-finite KL, a target or horizon that
     *                                  is not a finite number &gt; 0, or a negative n
     */
    public static double update(double klCoef, double observedKl, double target, double horizon, long nSteps) {
        if (!(klCoef >= 0) || Double.isInfinite(klCoef)) {
            throw new IllegalArgumentException("--kl-coef must be a finite number >= 0, got " + klCoef);
        }
        if (!Double.isFinite(observedKl)) {
            throw new IllegalArgumentException("observed KL must be finite, got " + observedKl);
        }
        if (!(target > 0) || Double.isInfinite(target)) {
            throw new IllegalArgumentException("--kl-target must be a finite number > 0, got " + target);
        }
        if (!(horizon > 0) || Double.isInfinite(horizon)) {
            throw new IllegalArgumentException("--kl-horizon must be a finite number > 0, got " + horizon);
        }
        if (nSteps < 0) {
            throw new IllegalArgumentException("the number of steps must be >= 0, got " + nSteps);
        }
        double error = Math.max(-0.2, Math.min(0.2, observedKl / target - 1));
        return klCoef * (1 + error * nSteps / horizon);
    }
}
