package dev.keel.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;

import dev.keel.train.LrSchedule;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;

/** Options every trainer shares: the loop, the optimizer, the output folder. */
final class TrainOptions {
    @Option(names = "--config", description = "YAML file of option: value; flags given here override it.")
    Path config;

    @Option(names = "--out", description = "Output folder: final model, metrics.jsonl, run_config.json, checkpoints.")
    Path out;

    @Option(names = "--epochs", defaultValue = "3", description = "Passes over the data. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--max-steps", defaultValue = "0", description = "Optimizer steps in all (overrides --epochs when > 0).")
    long maxSteps;

    @Option(names = "--batch-size", defaultValue = "8", description = "Examples per forward pass. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Forward passes per optimizer step. Default: ${DEFAULT-VALUE}.")
    int gradAccum;

    @Option(names = "--seed", defaultValue = "42", description = "Seeds data order and initialisation. Default: ${DEFAULT-VALUE}.")
    long seed;

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

    @Option(names = "--lr", description = "Peak learning rate.")
    Double lr;

    @Option(names = "--weight-decay", defaultValue = "0.0", description = "AdamW decoupled weight decay. Default: ${DEFAULT-VALUE}.")
    double weightDecay;

    @Option(names = "--adam-beta1", defaultValue = "0.9")
    double beta1;

    @Option(names = "--adam-beta2", defaultValue = "0.999")
    double beta2;

    @Option(names = "--adam-eps", defaultValue = "1e-8")
    double eps;

    @Option(names = "--lr-scheduler", defaultValue = "linear",
            description = "constant, linear or cosine (after warm-up). Default: ${DEFAULT-VALUE}.")
    String scheduler;

    @Option(names = "--warmup-steps", defaultValue = "0")
    long warmupSteps;

    @Option(names = "--warmup-ratio", defaultValue = "0.0")
    double warmupRatio;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global-norm clipping (0 = off). Default: ${DEFAULT-VALUE}.")
    double maxGradNorm;

    /** Options given in a --config file cannot be picocli-required; this checks them instead. */
    static <V> V required(V value, String option) {
        if (value == null) {
            throw new IllegalArgumentException("missing required option " + option + " (on the command line or in --config)");
        }
        return value;
    }

    OptimConfig optim(double defaultLr) {
        LrSchedule s;
        try {
            s = LrSchedule.valueOf(scheduler.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--lr-scheduler must be constant, linear or cosine, got " + scheduler);
        }
        return new OptimConfig(lr != null ? lr : defaultLr, weightDecay, beta1, beta2, eps, s, warmupSteps,
                warmupRatio, maxGradNorm);
    }

    TrainConfig train() {
        required(out, "--out");
        if (!(evalFraction >= 0 && evalFraction < 1)) {
            throw new IllegalArgumentException("--eval-fraction must be within [0, 1), got " + evalFraction);
        }
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, seed, logEvery, evalEvery, saveEvery,
                saveTotalLimit, !noProgress && System.console() != null);
    }
}
