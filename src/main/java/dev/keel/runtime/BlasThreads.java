package dev.keel.runtime;

import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * OpenBLAS's own thread pool, which is separate from libtorch's intra-op (OpenMP) threads. Where the products run on
 * libtorch's threads (oneDNN kernels under bf16 autocast, packed decoding weights) or on lanes of their own, OpenBLAS's
 * idle workers, which spin between calls, take the same cores: a LoRA DPO step at the SmolLM2-135M shape took 7.5 s
 * with two OpenBLAS threads and 1.9 s with one (2 cores). {@link #single()} makes OpenBLAS single-threaded until the
 * returned handle closes.
 */
public final class BlasThreads {
    private BlasThreads() {}

    /**
     * Makes OpenBLAS single-threaded until the handle closes, which gives back the setting before: the count last set
     * through the presets, or -1 when none was (the presets do not ask OpenBLAS; -1 gives OpenBLAS all its threads).
     */
    public static Single single() {
        Single s = new Single(openblas_nolapack.blas_get_num_threads());
        set(1);
        return s;
    }

    /** Sets OpenBLAS's thread count (-1: all of its threads). */
    public static void set(int threads) {
        openblas_nolapack.blas_set_num_threads(threads);
    }

    /** OpenBLAS's setting before a {@link #single()}, given back once on {@link #close()}. */
    public static final class Single implements AutoCloseable {
        private final int before;
        private boolean closed;

        private Single(int before) {
            this.before = before;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                set(before);
            }
        }
    }
}
