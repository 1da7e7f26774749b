package dev.keel.train;

/**
 * Learning-rate schedules as transformers' {@code get_scheduler} defines them: the multiplier applied to the
 * base rate at optimizer step s (0-based), with a linear warm-up from 0 over the first {@code warmup}
 * steps. As in transformers, step 0 of a warm-up runs at rate 0.
 */
public enum LrSchedule {
    /** warm-up, then the base rate. */
    CONSTANT,
    /** warm-up, then linear decay to 0 at the last step. */
    LINEAR,
    /** warm-up, then half a cosine down to 0 (Loshchilov &amp; Hutter 2017, without restarts). */
    COSINE;

    /** The multiplier at optimizer step {@code step} of {@code total}. */
    public double factor(long step, long warmup, long total) {
        if (step < warmup) {
            return (double) step / Math.max(1, warmup);
        }
        switch (this) {
            case CONSTANT:
                return 1.0;
            case LINEAR:
                return Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
            case COSINE: {
                double progress = (double) (step - warmup) / Math.max(1, total - warmup);
                return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
            }
            default:
                throw new IllegalStateException();
        }
    }
}
