package dev.keel.model;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

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
    private final List<Tensor> lastRoots = new ArrayList<>();
    private final List<Supplier<Tensor>> lastGrads = new ArrayList<>();

    private BackwardPass(BackwardPass outer) {
        this.outer = outer;
    }

    /** Opens a pass on this thread (until {@link #close}). */
    public static BackwardPass open() {
        BackwardPass p = new BackwardPass(CURRENT.get());
        CURRENT.set(p);
        return p;
    }

    /**
     * The pass open on this thread when a forward with gradients made now checkpoints ({@link Compute#checkpointing()}
     * on, gradients on), else null.
     */
    static BackwardPass checkpointing() {
        BackwardPass p = CURRENT.get();
        return p != null && Compute.checkpointing() && org.bytedeco.pytorch.GradMode.is_enabled() ? p : null;
    }

    /**
     * Whether a batch's backward may run in parts side by side (the trainers' lanes) and give the same gradients
     * whichever part ends first. Two parts each add once into a weight's gradient, and two adds give the same float
     * in either order. With gradient checkpointing the loss's backward and the blocks' recomputation are separate
     * backward calls, so a weight reached from both would take two adds per part: a trained tied embedding (the
     * output head, outside the stack, and the input lookup, below it); its head's gradient is therefore held back
     * ({@link #deferToEnd}) and joins the lookup's in the pass's last backward call, one add. Not with LoRA dropout
     * in any of {@code models} (the parts would draw their masks from libtorch's one generator in either order),
     * nor off the CPU (lanes share the cores).
     */
    public static boolean splittable(CausalLM... models) {
        for (CausalLM m : models) {
            if (m == null) {
                continue;
            }
            if (!m.device().is_cpu() || m.adapters() != null && m.adapters().config().dropout() > 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Back-propagates {@code grad} (evaluated then; skipped when undefined) from {@code root} in this pass's last
     * backward call, after every checkpointed block: together with every other root given here, so a weight they
     * reach adds their sum into its gradient once.
     */
    void deferToEnd(Tensor root, Supplier<Tensor> grad) {
        lastRoots.add(root);
        lastGrads.add(grad);
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
     * checkpointed forwards of this pass, last first, then one backward call from the roots held back for the end
     * ({@link #deferToEnd}: the embeddings below the blocks, a tied head). Each forward is back-propagated once.
     */
    public void backward(Tensor loss) {
        try {
            loss.backward();
            for (int i = replays.size() - 1; i >= 0; i--) {
                replays.get(i).run();
            }
            List<Tensor> roots = new ArrayList<>();
            List<Tensor> grads = new ArrayList<>();
            for (int i = 0; i < lastRoots.size(); i++) {
                Tensor g = lastGrads.get(i).get();
                if (g != null && g.defined()) {
                    roots.add(lastRoots.get(i));
                    grads.add(g);
                }
            }
            if (!roots.isEmpty()) {
                propagate(roots.toArray(new Tensor[0]), grads.toArray(new Tensor[0]));
            }
        } finally {
            replays.clear();
            lastRoots.clear();
            lastGrads.clear();
        }
    }

    /**
     * Back-propagates the gradients {@code grads} of {@code roots} in one call (libtorch's
     * {@code torch::autograd::backward}): a leaf reached from several roots adds their sum once.
     */
    static void propagate(Tensor[] roots, Tensor[] grads) {
        torch.backward(new TensorVector(roots), new TensorVector(grads), new BoolOptional(), false, new TensorVector());
    }

    /** Closes the pass; forwards not back-propagated are dropped. */
    @Override
    public void close() {
        replays.clear();
        lastRoots.clear();
        lastGrads.clear();
        CURRENT.set(outer);
    }
}
