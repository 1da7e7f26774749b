package dev.keel.model;

import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * OpenBLAS's own thread pool, which is separate from libtorch's intra-op (OpenMP) threads. Under bf16 autocast the
 * products run in libtorch's oneDNN kernels on the OpenMP threads, and OpenBLAS's idle workers, which spin between
 * calls, take the same cores: a LoRA DPO step at the SmolLM2-135M shape took 7.5 s with two OpenBLAS threads and
 * 1.9 s with one (2 cores). The float32 products left under autocast (attention) then run on one thread.
 */
final class BlasThreads {
    private BlasThreads() {}

    /**
     * Makes OpenBLAS single-threaded; returns its setting before, for {@link #set}: the count last set through the
     * presets, or -1 when none was (the presets do not ask OpenBLAS; setting -1 gives OpenBLAS back all its threads).
     */
    static int single() {
        int before = openblas_nolapack.blas_get_num_threads();
        set(1);
        return before;
    }

    static void set(int threads) {
        openblas_nolapack.blas_set_num_threads(threads);
    }
}
