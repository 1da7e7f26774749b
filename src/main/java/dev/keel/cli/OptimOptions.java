package dev.keel.cli;

import java.util.Locale;

import picocli.CommandLine.Option;

import dev.keel.train.LrSchedule;
import dev.keel.train.OptimConfig;

/**
 * AdamW and schedule options of every trainer. Options left out keep the command's defaults (an
 * {@link OptimConfig}): the learning rate differs per command, and the RL trainers use TRL's ε 1e-5 and
 * clipping at 0.5.
 */
final class OptimOptions {
    @Option(names = "--lr", description = "Peak learning rate (default: the command's; see its description).")
    Double lr;

    @Option(names = "--weight-decay", description = "AdamW decoupled weight decay, not on biases, norms and embeddings. Default: 0.")
    Double weightDecay;

    @Option(names = "--adam-beta1", description = "Default: 0.9.")
    Double beta1;

    @Option(names = "--adam-beta2", description = "Default: 0.999.")
    Double beta2;

    @Option(names = "--adam-eps", description = "Default: 1e-8 (ppo, rloo, grpo: 1e-5).")
    Double eps;

    @Option(names = "--lr-scheduler", description = "constant, linear or cosine (after warm-up). Default: linear.")
    String scheduler;

    @Option(names = "--warmup-steps", description = "Steps of linear warm-up. Default: 0.")
    Long warmupSteps;

    @Option(names = "--warmup-ratio", description = "Warm-up as a fraction of the run (when --warmup-steps is 0). Default: 0.")
    Double warmupRatio;

    @Option(names = "--max-grad-norm", description = "Global-norm clipping (0 = off). Default: 1.0 (ppo, rloo, grpo: 0.5).")
    Double maxGradNorm;

    /** {@code defaults} with every option given here applied. */
    OptimConfig config(OptimConfig defaults) {
        OptimConfig o = defaults;
        if (lr != null) {
            o = o.withLr(lr);
        }
        if (weightDecay != null) {
            o = o.withWeightDecay(weightDecay);
        }
        if (beta1 != null || beta2 != null) {
            o = o.withBetas(beta1 != null ? beta1 : o.beta1(), beta2 != null ? beta2 : o.beta2());
        }
        if (eps != null) {
            o = o.withEps(eps);
        }
        if (scheduler != null) {
            o = o.withSchedule(schedule(scheduler));
        }
        if (warmupSteps != null || warmupRatio != null) {
            o = o.withWarmup(warmupSteps != null ? warmupSteps : o.warmupSteps(),
                    warmupRatio != null ? warmupRatio : o.warmupRatio());
        }
        if (maxGradNorm != null) {
            o = o.withMaxGradNorm(maxGradNorm);
        }
        return o;
    }

    private static LrSchedule schedule(String s) {
        try {
            return LrSchedule.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--lr-scheduler must be constant, linear or cosine, got " + s);
        }
    }
}
