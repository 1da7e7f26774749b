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
}
