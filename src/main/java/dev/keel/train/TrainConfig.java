package dev.keel.train;

/**
 * The loop's settings.
 *
 * @param epochs        passes over the training set (ignored when {@code maxSteps} &gt; 0)
 * @param maxSteps      optimizer steps in all; 0 means {@code epochs} full passes
 * @param batchSize     examples per forward pass
 * @param gradAccum     forward passes per optimizer step
 * @param seed          seeds data order and libtorch's generator: same seed, same run
 * @param logEvery      write metrics every this many optimizer steps
 * @param evalEvery     evaluate on the held-out set every this many steps (0 = only at the end)
 * @param saveEvery     write a checkpoint every this many steps (0 = none)
 * @param saveTotalLimit keep at most this many checkpoints (oldest deleted first)
 * @param progress      show a progress bar on the console
 */
public record TrainConfig(int epochs, long maxSteps, int batchSize, int gradAccum, long seed, int logEvery,
                          int evalEvery, int saveEvery, int saveTotalLimit, boolean progress) {
    public TrainConfig {
        if (epochs < 1 && maxSteps <= 0) {
            throw new IllegalArgumentException("--epochs must be at least 1 (or give --max-steps)");
        }
        if (batchSize < 1 || gradAccum < 1) {
            throw new IllegalArgumentException("--batch-size and --grad-accum must be at least 1");
        }
        if (logEvery < 1) {
            throw new IllegalArgumentException("--log-every must be at least 1");
        }
        if (evalEvery < 0 || saveEvery < 0 || saveTotalLimit < 1) {
            throw new IllegalArgumentException("--eval-every and --save-every must be >= 0, --save-total-limit >= 1");
        }
    }

    /** The command line's defaults: 3 epochs of batches of 8, seed 42, a metrics line every 10 steps, no checkpoints. */
    public static TrainConfig defaults() {
        return new TrainConfig(3, 0, 8, 1, 42, 10, 0, 0, 2, false);
    }

    public TrainConfig withEpochs(int n) {
        return new TrainConfig(n, maxSteps, batchSize, gradAccum, seed, logEvery, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    public TrainConfig withMaxSteps(long n) {
        return new TrainConfig(epochs, n, batchSize, gradAccum, seed, logEvery, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    public TrainConfig withBatchSize(int n) {
        return new TrainConfig(epochs, maxSteps, n, gradAccum, seed, logEvery, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    public TrainConfig withGradAccum(int n) {
        return new TrainConfig(epochs, maxSteps, batchSize, n, seed, logEvery, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    public TrainConfig withSeed(long s) {
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, s, logEvery, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    public TrainConfig withLogEvery(int n) {
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, seed, n, evalEvery, saveEvery, saveTotalLimit,
                progress);
    }

    /** Checkpoints every {@code every} steps (0 = none), keeping the newest {@code keep}. */
    public TrainConfig withCheckpoints(int every, int keep) {
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, seed, logEvery, evalEvery, every, keep, progress);
    }

    public TrainConfig withProgress(boolean p) {
        return new TrainConfig(epochs, maxSteps, batchSize, gradAccum, seed, logEvery, evalEvery, saveEvery,
                saveTotalLimit, p);
    }
}
