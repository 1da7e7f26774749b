package dev.keel.model;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/**
 * The stack of a decoder's blocks, run plainly or with gradient checkpointing (Chen et al. 2016, "Training
 * Deep Nets with Sublinear Memory Cost"; what transformers' {@code gradient_checkpointing_enable()} does with
 * {@code torch.utils.checkpoint} around each layer). Checkpointed, the blocks run without a graph and keep only
 * each block's input; the output is a fresh leaf, so the loss's backward stops there, and the
 * {@link BackwardPass} then recomputes each block from its input with a graph (under the same autocast),
 * back-propagates the output's gradient through it and passes the input's gradient to the block below; the
 * embeddings' graph takes the last, in the pass's last backward call. The blocks hold no randomness (Keel has no
 * dropout), so a recomputation is the forward again, exactly.
 */
final class Blocks {
    private Blocks() {}

    /** One block of the stack: its output from its input (B, T, D), nothing kept between calls. */
    @FunctionalInterface
    interface Block {
        Tensor apply(int layer, Tensor h);
    }

    /**
     * The output of {@code layers} blocks over {@code h}: checkpointed when a {@link BackwardPass} is open,
     * {@link Compute#checkpointing()} is on, gradients are on and no cache is filled (decoding); else plain.
     */
    static Tensor run(Tensor h, int layers, KvCache cache, Block block) {
        BackwardPass pass = BackwardPass.checkpointing();
        if (pass == null || cache != null) {
            for (int i = 0; i < layers; i++) {
                h = block.apply(i, h);
            }
            return h;
        }
        Tensor[] inputs = new Tensor[layers];
        Tensor x = h.detach();
        try (NoGradGuard ng = new NoGradGuard()) {
            for (int i = 0; i < layers; i++) {
                int layer = i;
                Tensor in = x;
                inputs[i] = in;
                x = scoped(() -> block.apply(layer, in));
            }
        }
        Tensor out = x.detach().requires_grad_(true);
        Tensor embedded = h;
        boolean bf16 = Compute.bf16();
        pass.add(() -> replay(pass, embedded, inputs, out, block, bf16));
        return out;
    }

    /**
     * The backward of a checkpointed stack, once the loss's backward has left a gradient on {@code out}; the
     * embeddings' graph gets the input's gradient in the pass's last backward call.
     */
    private static void replay(BackwardPass pass, Tensor embedded, Tensor[] inputs, Tensor out, Block block, boolean bf16) {
        Tensor g = out.grad();
        if (!g.defined()) {
            return;                          // this forward did not reach the loss
        }
        for (int i = inputs.length - 1; i >= 0; i--) {
            g = blockBackward(block, i, inputs[i], g, bf16);
        }
        if (embedded.requires_grad()) {
            Tensor input = g;
            pass.deferToEnd(embedded, () -> input);
        }
    }

    /** Recomputes block {@code i} from its input with a graph, back-propagates {@code g}: the input's gradient. */
    private static Tensor blockBackward(Block block, int i, Tensor input, Tensor g, boolean bf16) {
        return scoped(() -> {
            Tensor x = input.detach().requires_grad_(true);
            Tensor y;
            try (Autocast a = Autocast.bf16If(bf16)) {
                y = block.apply(i, x);
            }
            BackwardPass.propagate(new Tensor[] {y}, new Tensor[] {g});
            return x.grad().detach();        // a tensor of its own: grad() is a view into x, freed with the scope
        });
    }

    /**
     * {@code f}'s result, the tensors made on the way freed on return (a plain forward keeps them to the end of
     * the step's {@code PointerScope}): only the result outlives the call, in the caller's scope.
     */
    private static Tensor scoped(java.util.function.Supplier<Tensor> f) {
        PointerScope outer = PointerScope.getInnerScope();
        if (outer == null) {
            return f.get();                  // no scope: the garbage collector frees them all
        }
        try (PointerScope inner = new PointerScope()) {
            Tensor t = f.get();
            outer.attach(t);
            return t;
        }
    }
}
