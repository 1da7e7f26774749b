package dev.keel.train;

/**
 * Settings of ORPO (docs/ALGORITHMS.md §3.2), with TRL's {@code ORPOConfig} names and defaults.
 *
 * @param beta λ &gt; 0, the weight of the odds-ratio term (TRL {@code beta}, default 0.1)
 */
public record OrpoConfig(double beta) {
    public OrpoConfig {
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("--beta must be a finite number > 0, got " + beta);
        }
    }

    /** TRL's default: λ = 0.1. */
    public static OrpoConfig defaults() {
        return new OrpoConfig(0.1);
    }
}
