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

    /** transformers' defaults at learning rate {@code lr}: no decay, betas (0.9, 0.999), ε 1e-8, linear, clip 1.0. */
    public static OptimConfig defaults(double lr) {
        return new OptimConfig(lr, 0.0, 0.9, 0.999, 1e-8, LrSchedule.LINEAR, 0, 0.0, 1.0);
    }

    public OptimConfig withLr(double v) {
        return new OptimConfig(v, weightDecay, beta1, beta2, eps, schedule, warmupSteps, warmupRatio, maxGradNorm);
    }

    public OptimConfig withWeightDecay(double v) {
        return new OptimConfig(lr, v, beta1, beta2, eps, schedule, warmupSteps, warmupRatio, maxGradNorm);
    }

    public OptimConfig withBetas(double b1, double b2) {
        return new OptimConfig(lr, weightDecay, b1, b2, eps, schedule, warmupSteps, warmupRatio, maxGradNorm);
    }

    public OptimConfig withEps(double v) {
        return new OptimConfig(lr, weightDecay, beta1, beta2, v, schedule, warmupSteps, warmupRatio, maxGradNorm);
    }

    public OptimConfig withSchedule(LrSchedule v) {
        return new OptimConfig(lr, weightDecay, beta1, beta2, eps, v, warmupSteps, warmupRatio, maxGradNorm);
    }

    /** Warm-up of {@code steps} steps, or (when {@code steps} is 0) of {@code ratio} of the run. */
    public OptimConfig withWarmup(long steps, double ratio) {
        return new OptimConfig(lr, weightDecay, beta1, beta2, eps, schedule, steps, ratio, maxGradNorm);
    }

    public OptimConfig withMaxGradNorm(double v) {
        return new OptimConfig(lr, weightDecay, beta1, beta2, eps, schedule, warmupSteps, warmupRatio, v);
    }

    /** Warm-up length for a run of {@code total} steps. */
    public long warmup(long total) {
        return warmupSteps > 0 ? warmupSteps : (long) Math.ceil(warmupRatio * total);
    }

    public double lrAt(long step, long total) {
        return lr * schedule.factor(step, warmup(total), total);
    }
}
