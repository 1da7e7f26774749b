package dev.keel.train;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** AdamW ({@link FusedAdamW}) with Keel's two parameter groups, and one optimizer step with clipping. */
public final class Optimizers {
    private Optimizers() {}

    /**
     * Keel's one rule for which parameters get no weight decay: biases and norm weights (every tensor of fewer
     * than two dimensions) and the token and position embeddings (transformers' {@code embed_tokens}, GPT-2's
     * {@code wte} and {@code wpe}), as common practice and nanoGPT's {@code p.dim() >= 2} rule (which also
     * decays embeddings; Keel does not). Names may carry a prefix such as {@code value.}.
     */
    public static boolean noDecay(String name, Tensor t) {
        return t.dim() < 2 || name.endsWith("embed_tokens.weight") || name.endsWith("wte.weight")
                || name.endsWith("wpe.weight");
    }

    /** AdamW over {@code params} by name: {@code optim.weightDecay()} on the decayed ones, none on {@link #noDecay}. */
    public static FusedAdamW adamW(Map<String, Tensor> params, OptimConfig optim) {
        List<Tensor> decay = new ArrayList<>();
        List<Tensor> plain = new ArrayList<>();
        params.forEach((n, t) -> (noDecay(n, t) ? plain : decay).add(t));
        FusedAdamW opt = new FusedAdamW(optim.lr(), optim.beta1(), optim.beta2(), optim.eps());
        opt.addGroup(decay, optim.weightDecay());
        if (!plain.isEmpty()) {
            opt.addGroup(plain, 0.0);
        }
        return opt;
    }

    /**
     * Sets the learning rate, clips the global gradient norm (when {@code maxGradNorm} &gt; 0), steps and clears
     * the gradients. Returns the norm before clipping. Call inside a PointerScope.
     */
    public static double step(FusedAdamW opt, Collection<Tensor> params, double lr, double maxGradNorm) {
        return stepClippingEach(opt, List.of(params), lr, maxGradNorm)[0];
    }

    /**
     * As {@link #step}, with each group's gradient norm clipped on its own (PPO: the policy and the value model),
     * so one model's large gradients never shrink the other's step. Returns each group's norm before clipping.
     */
    public static double[] stepClippingEach(FusedAdamW opt, List<? extends Collection<Tensor>> groups, double lr,
                                            double maxGradNorm) {
        opt.lr(lr);
        double max = maxGradNorm > 0 ? maxGradNorm : Double.POSITIVE_INFINITY;
        double[] norms = new double[groups.size()];
        for (int i = 0; i < norms.length; i++) {
            norms[i] = torch.clip_grad_norm_(new TensorVector(groups.get(i).toArray(new Tensor[0])), max, 2.0, false);
        }
        opt.step();
        opt.zeroGrad();
        return norms;
    }
}
