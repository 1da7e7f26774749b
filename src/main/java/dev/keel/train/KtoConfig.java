package dev.keel.train;

import dev.keel.loss.KtoLoss;

/**
 * Settings of KTO (docs/ALGORITHMS.md §3.1), with TRL's {@code KTOConfig} names and defaults.
 *
 * @param beta              β &gt; 0 (default 0.1)
 * @param desirableWeight   λ_D, the weight of the desirable examples' losses (default 1)
 * @param undesirableWeight λ_U, the weight of the undesirable examples' losses (default 1)
 */
public record KtoConfig(double beta, double desirableWeight, double undesirableWeight) {
    public KtoConfig {
        KtoLoss.validate(beta, desirableWeight, undesirableWeight);
    }

    /** TRL's defaults: β 0.1, both weights 1. */
    public static KtoConfig defaults() {
        return new KtoConfig(0.1, 1.0, 1.0);
    }

    public KtoConfig withBeta(double b) {
        return new KtoConfig(b, desirableWeight, undesirableWeight);
    }

    public KtoConfig withWeights(double desirable, double undesirable) {
        return new KtoConfig(beta, desirable, undesirable);
    }

    /**
     * TRL's advice when the data has unequal numbers of desirable and undesirable examples (KTO paper Eq. 8): the
     * weighted counts λ_D·n_D and λ_U·n_U should be within a ratio of 1 to 4/3. Empty when the counts are equal or
     * either weight is in TRL's range; else the warning TRL gives, with the ranges rounded to 2 places as TRL rounds.
     */
    public java.util.Optional<String> weightAdvice(long numDesirable, long numUndesirable) {
        double d = Math.max(numDesirable, 1);
        double u = Math.max(numUndesirable, 1);
        if (d == u) {
            return java.util.Optional.empty();
        }
        double dLow = round2(u * undesirableWeight / d);
        double dHigh = round2(u * undesirableWeight / d * 1.33);
        double uLow = round2(d * desirableWeight / u / 1.33);
        double uHigh = round2(d * desirableWeight / u);
        boolean ok = dLow <= desirableWeight && desirableWeight <= dHigh || uLow <= undesirableWeight && undesirableWeight <= uHigh;
        return ok ? java.util.Optional.empty() : java.util.Optional.of(String.format(java.util.Locale.ROOT,
                "%d desirable and %d undesirable examples, but the weights are not in the range KTO recommends: set "
                + "EITHER --desirable-weight within [%s, %s] OR --undesirable-weight within [%s, %s] (not both)",
                numDesirable, numUndesirable, dLow, dHigh, uLow, uHigh));
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
