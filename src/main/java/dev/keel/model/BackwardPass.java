package dev.keel.model;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Tensor;

/**
 * The one way trainers back-propagate a loss: forwards made while the pass is open may checkpoint their blocks
 * ({@link Compute#checkpointing()}), keeping only each block's input, and {@link #backward} then recomputes
 * every block from its input, last first, to carry the gradient down to the embeddings. Without checkpointing
 * {@link #backward} is {@code loss.backward()}.
 *
 * <pre>{@code
 * try (BackwardPass pass = BackwardPass.open()) {
 *     Tensor loss = lossOf(model.forward(ids, keep));
 *     pass.backward(loss);
 * }
 * }</pre>
 *
 * <p>A pass belongs to the thread that opened it; open it inside the {@code PointerScope} of the step, so the
 * tensors it keeps live until its backward.
 */
public final class BackwardPass implements AutoCloseable {
    private static final ThreadLocal<BackwardPass> CURRENT = new ThreadLocal<>();
    private final BackwardPass outer;
    private final List<Runnable> replays = new ArrayList<>();

    private BackwardPass(BackwardPass outer) {
        this.outer = outer;
    }

    /** Opens a pass on this thread (until {@link #close}). */
    public static BackwardPass open() {
        BackwardPass p = new BackwardPass(CURRENT.get());
        CURRENT.set(p);
        return p;
    }

    /** The pass open on this thread, or null. */
    static BackwardPass current() {
        return CURRENT.get();
    }

    /**
     * Whether a batch's backward may run in parts side by side (the trainers' lanes) and give the same gradients
     * whichever part ends first. Two parts each add once into a weight's gradient, and two adds give the same float
     * in either order. Not when a trained weight takes two adds per part: with gradient checkpointing the loss's
     * backward and the blocks' recomputation each add, so a trained tied embedding (the output head, outside the
     * stack, and the input lookup, back-propagated after it) does; under LoRA the embedding is frozen, the adapters
     * are inside the stack and a scalar head outside, so each still adds once. Not with LoRA dropout in any of
     * {@code models} (the parts would draw their masks from libtorch's one generator in either order), nor off
     * the CPU (lanes share the cores).
     */
    public static boolean splittable(CausalLM... models) {
        for (CausalLM m : models) {
            if (m == null) {
                continue;
            }
            if (!m.device().is_cpu() || m.adapters() != null && m.adapters().config().dropout() > 0) {
                return false;
            }
            if (Compute.checkpointing() && m.adapters() == null && m.config().tieWordEmbeddings()) {
                return false;
            }
        }
        return true;
    }

    /** Registers the backward of a checkpointed forward, run after the loss's own backward. */
    void add(Runnable replay) {
        replays.add(replay);
    }

    /** How many checkpointed forwards wait for this pass's backward. */
    public int pendingForwards() {
        return replays.size();
    }

    /**
     * Gradients of {@code loss} into every parameter that requires them: {@code loss.backward()}, then the
     * checkpointed forwards of this pass, last first. Each forward is back-propagated once.
     */
    public void backward(Tensor loss) {
        loss.backward();
        try {
            for (int i = replays.size() - 1; i >= 0; i--) {
                replays.get(i).run();
            }
        } finally {
            replays.clear();
        }
    }

    /** Closes the pass; forwards not back-propagated are dropped. */
    @Override
    public void close() {
        replays.clear();
        CURRENT.set(outer);
    }
}
