package dev.keel.eval;

/**
 * 95% confidence intervals for the experiment's report (docs/ALGORITHMS.md §6): Student's t interval of a
 * mean over seeds, and Wilson's score interval of an accuracy over pairs.
 */
public final class Intervals {
    /** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond 30, 1.96 is within 2%). */
    private static final double[] T975 = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
        2.056, 2.052, 2.048, 2.045, 2.042};

    private Intervals() {}

    /**
     * A mean and the half-width of its 95% interval: mean ± halfWidth.
     *
     * @param n how many values it summarises
     */
    public record Mean(double mean, double halfWidth, int n) {
        public double low() {
            return mean - halfWidth;
        }

        public double high() {
            return mean + halfWidth;
        }

        /** Whether this interval lies wholly above {@code o}'s. */
        public boolean above(Mean o) {
            return low() > o.high();
        }
    }

    /**
     * Student's t interval: x̄ ± t_{0.975, n−1} · s / √n with s the sample standard deviation (divisor n − 1).
     * One value has no interval: half-width NaN.
     */
    public static Mean mean(double[] xs) {
        int n = xs.length;
        if (n == 0) {
            throw new IllegalArgumentException("no values");
        }
        double m = 0;
        for (double x : xs) {
            m += x;
        }
        m /= n;
        if (n == 1) {
            return new Mean(m, Double.NaN, 1);
        }
        double ss = 0;
        for (double x : xs) {
            ss += (x - m) * (x - m);
        }
        double s = Math.sqrt(ss / (n - 1));
        return new Mean(m, t975(n - 1) * s / Math.sqrt(n), n);
    }

    /** The 97.5% quantile of Student's t with {@code df} degrees of freedom (1.96 past 30). */
    public static double t975(int df) {
        if (df < 1) {
            throw new IllegalArgumentException("degrees of freedom must be at least 1, got " + df);
        }
        return df <= T975.length ? T975[df - 1] : 1.96;
    }

    /**
     * Wilson's score interval of a proportion (Wilson 1927), z = 1.96:
     * centre (p̂ + z²/2n) / (1 + z²/n) ± z √(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n); the bounds need not be
     * symmetric around p̂, and stay within [0, 1].
     */
    public static Proportion wilson(int successes, int n) {
        if (n <= 0 || successes < 0 || successes > n) {
            throw new IllegalArgumentException("need 0 <= successes <= n and n > 0, got " + successes + " of " + n);
        }
        double z = 1.96;
        double p = (double) successes / n;
        double d = 1 + z * z / n;
        double centre = (p + z * z / (2.0 * n)) / d;
        double half = z * Math.sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
        return new Proportion(p, centre - half, centre + half, n);
    }

    /** An observed proportion and its 95% interval [low, high] over n trials. */
    public record Proportion(double value, double low, double high, int n) {}
}
