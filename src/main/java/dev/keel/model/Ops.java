package dev.keel.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Kernel choices shared by the decoders. */
final class Ops {
    private Ops() {}

    /**
     * x W^T + b for a linear weight W (out, in). A single row (batch-1 decoding) with a float32 weight goes through
     * a matrix-vector product: libtorch's GEMM path for a (1, d) x (d, d) product measured 3x slower than
     * {@code mv} here (41 us against 14 us at d = 256). Not with a bfloat16 weight, whose {@code mv} is slower than
     * {@code linear} (oneDNN) at most decoder shapes: at SmolLM2-135M's 1,536 x 576 158 against 115 us, its output
     * head 4.7 against 3.5 ms (docs/PERFORMANCE.md, item 19). A single bfloat16 row goes through {@link Bf16Mv}
     * where it applies (item 24).
     */
    static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        if (Bf16Mv.applies(x, weight, bias)) {
            return Bf16Mv.mv(x, weight, bias);
        }
        if (oneRowMv(x, weight)) {
            Tensor y = torch.mv(weight, x.reshape(x.size(-1)));
            if (bias != null) {
                y = y.add(bias);
            }
            long[] shape = dev.keel.tensor.Tensors.shape(x);
            shape[shape.length - 1] = weight.size(0);
            return y.view(shape);
        }
        return torch.linear(x, weight, bias == null ? new TensorOptional() : new TensorOptional(bias));
    }

    /** Whether the product of one row {@code x} with {@code weight} goes through {@code mv}: a float32 weight. */
    static boolean oneRowMv(Tensor x, Tensor weight) {
        return x.numel() == x.size(-1) && weight.scalar_type().intern() == ScalarType.Float;
    }
}
