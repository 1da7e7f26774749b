package dev.keel.train;

/**
 * AdamW and its schedule (Loshchilov &amp; Hutter 2019, decoupled weight decay), with transformers'
 * defaults where they have one.
 *
 * @param lr           peak learning rate
 * @param weightDecay  decoupled decay on matrices; biases, norm weights and embeddings get none
 * @param warmupSteps  steps of linear warm-up (or use {@code warmupRatio} of the total)
 * @param maxGradNorm  clip the global gradient norm to this (0 = no clipping)
 */
public record OptimConfig(double lr, double weightDecay, double beta1, double beta2, double eps, LrSchedule schedule,
                          long warmupSteps, double warmupRatio, double maxGradNorm) {
    public OptimConfig {
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("--lr must be a positive number, got " + lr);
        }
        if (weightDecay < 0) {
            throw new IllegalArgumentException("--weight-decay must be >= 0, got " + weightDecay);
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("Adam betas must be within [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("--adam-eps must be > 0, got " + eps);
        }
        if (warmupSteps < 0 || !(warmupRatio >= 0 && warmupRatio < 1)) {
            throw new IllegalArgumentException("--warmup-steps must be >= 0 and --warmup-ratio within [0, 1)");
        }
        if (maxGradNorm < 0) {
            throw new IllegalArgumentException("--max-grad-norm must be >= 0 (0 = off), got " + maxGradNorm);
        }
    }

    public static OptimConfig defaults(double lr) {
        return new OptimConfig(lr, 0.0, 0.9, 0.999, 1e-8, LrSchedule.LINEAR, 0, 0.0, 1.0);
    }

    /** Warm-up length for a run of {@code total} steps. */
    public long warmup(long total) {
        return warmupSteps > 0 ? warmupSteps : (long) Math.ceil(warmupRatio * total);
    }

    public double lrAt(long step, long total) {
        return lr * schedule.factor(step, warmup(total), total);
    }
}
