package dev.keel.cli;

import java.nio.file.Path;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;

/** Options every supervised trainer shares: the run, the optimizer, and the loop (epochs, batches, evaluation, checkpoints). */
final class TrainOptions {
    @Mixin
    RunOptions run;

    @Mixin
    OptimOptions optimizer;

    @Mixin
    ComputeOptions compute;

    @Option(names = "--epochs", defaultValue = "3", description = "Passes over the data. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--max-steps", defaultValue = "0", description = "Optimizer steps in all (overrides --epochs when > 0).")
    long maxSteps;

    @Option(names = "--batch-size", defaultValue = "8", description = "Examples per forward pass. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Forward passes per optimizer step. Default: ${DEFAULT-VALUE}.")
    int gradAccum;

    @Option(names = "--log-every", defaultValue = "10", description = "Steps between metrics lines. Default: ${DEFAULT-VALUE}.")
    int logEvery;

    @Option(names = "--eval-every", defaultValue = "0", description = "Steps between evaluations (0 = at the end only).")
    int evalEvery;

    @Option(names = "--save-every", defaultValue = "0", description = "Steps between checkpoints (0 = none).")
    int saveEvery;

    @Option(names = "--save-total-limit", defaultValue = "2", description = "Checkpoints kept. Default: ${DEFAULT-VALUE}.")
    int saveTotalLimit;

    @Option(names = "--resume", description = "Continue from the newest complete checkpoint in --out.")
    boolean resume;

    @Option(names = "--eval-fraction", defaultValue = "0.0",
            description = "Hold out this fraction of the records for evaluation (ignored with --eval-data).")
    double evalFraction;

    @Option(names = "--eval-data", description = "Held-out records in the same format as the training data.")
    Path evalData;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    /** Options given in a --config file cannot be picocli-required; this checks them instead. */
    static <V> V required(V value, String option) {
        if (value == null) {
            throw new IllegalArgumentException("missing required option " + option + " (on the command line or in --config)");
        }
        return value;
    }

    /** The optimizer settings: transformers' defaults at learning rate {@code defaultLr}, then the options given. */
    OptimConfig optim(double defaultLr) {
        return optimizer.config(OptimConfig.defaults(defaultLr));
    }

    Path out() {
        return run.out();
    }

    long seed() {
        return run.seed;
    }

    TrainConfig train() {
        run.out();
        if (!(evalFraction >= 0 && evalFraction < 1)) {
            throw new IllegalArgumentException("--eval-fraction must be within [0, 1), got " + evalFraction);
        }
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, run.seed, logEvery, evalEvery, saveEvery,
                saveTotalLimit, !noProgress && System.console() != null);
    }
}
