package dev.keel.model;

import dev.keel.runtime.BlasThreads;

/**
 * How the training forwards of a run compute, for the scope of the run (as {@code torch.autocast} is a scope in
 * PyTorch): bf16 mixed precision ({@code --bf16}) and gradient checkpointing ({@code --gradient-checkpointing}).
 * Every {@link CausalLM} reads the scope innermost at the time of its forward; outside any scope both are off.
 *
 * <pre>{@code
 * try (Compute c = Compute.use(true, true)) {
 *     ... load, train ...
 * }
 * }</pre>
 */
public final class Compute implements AutoCloseable {
    private static final Compute OFF = new Compute(false, false, null);
    private static volatile Compute current = OFF;

    private final boolean bf16;
    private final boolean checkpointing;
    private final Compute previous;
    /** OpenBLAS made single-threaded by a bf16 scope, given back on close; null otherwise. */
    private BlasThreads.Single blas;

    private Compute(boolean bf16, boolean checkpointing, Compute previous) {
        this.bf16 = bf16;
        this.checkpointing = checkpointing;
        this.previous = previous;
    }

    /**
     * Enters a scope until {@link #close}.
     *
     * @param bf16          autocast the forwards to bfloat16 on CPU ({@link Autocast}); the weights stay as they are,
     *                      and OpenBLAS runs single-threaded until the scope closes ({@link BlasThreads})
     * @param checkpointing recompute each block's activations in the backward of a {@link BackwardPass}
     */
    public static Compute use(boolean bf16, boolean checkpointing) {
        Compute c = new Compute(bf16, checkpointing, current);
        current = c;
        c.blas = bf16 ? BlasThreads.single() : null;
        return c;
    }

    /** Whether forwards run under bf16 autocast now. */
    public static boolean bf16() {
        return current.bf16;
    }

    /** Whether forwards with gradients inside a {@link BackwardPass} checkpoint their blocks now. */
    public static boolean checkpointing() {
        return current.checkpointing;
    }

    /** Leaves the scope: the one it was entered from applies again. */
    @Override
    public void close() {
        if (current != this) {
            throw new IllegalStateException("Compute scopes must close innermost first");
        }
        current = previous;
        if (blas != null) {
            blas.close();
        }
    }
}
