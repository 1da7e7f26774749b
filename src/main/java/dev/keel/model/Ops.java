package dev.keel.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** Kernel choices shared by the decoders. */
final class Ops {
    private Ops() {}

    /**
     * x W^T + b for a linear weight W (out, in). A single row (batch-1 decoding) goes through a
     * matrix-vector product: libtorch's GEMM path for a (1, d) x (d, d) product measured 3x slower than
     * {@code mv} here (41 us against 14 us at d = 256).
     */
    static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long in = x.size(-1);
        if (x.numel() == in) {
            Tensor y = torch.mv(weight, vector(x, weight));
            if (bias != null) {
                y = y.add(bias);
            }
            long[] shape = dev.keel.tensor.Tensors.shape(x);
            shape[shape.length - 1] = weight.size(0);
            return y.view(shape);
        }
        return torch.linear(x, weight, bias == null ? new TensorOptional() : new TensorOptional(bias));
    }

    /**
     * One row x (1, ..., in) as the vector of a matrix-vector product with {@code weight}, in the weight's dtype:
     * {@code mv} is not on autocast's list, so a weight held in bfloat16 ({@link CausalLM#holdFrozenLinearsInBf16})
     * meets its input in bfloat16, as autocast's linear would.
     */
    static Tensor vector(Tensor x, Tensor weight) {
        Tensor v = x.reshape(x.size(-1));
        return v.scalar_type().intern() == weight.scalar_type().intern() ? v : v.to(weight.scalar_type());
    }
}
