package dev.keel.model;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** Multi-head and grouped-query attention through libtorch's {@code scaled_dot_product_attention}. */
final class Attention {
    private Attention() {}

    /** (B, T, n * hd) to (B, n, T, hd). */
    static Tensor splitHeads(Tensor x, long heads, long headDim) {
        return x.view(x.size(0), x.size(1), heads, headDim).transpose(1, 2);
    }

    /**
     * softmax(q k^T / sqrt(hd) + mask) v, with q (B, H, T, hd) and k, v (B, KV, S, hd) where H is a multiple
     * of KV (each group of H / KV query heads shares one key/value head, as transformers' {@code repeat_kv}).
     *
     * @return (B, T, H * hd)
     */
    static Tensor attend(Tensor q, Tensor k, Tensor v, Tensor mask) {
        boolean gqa = q.size(1) != k.size(1);
        double scale = 1.0 / Math.sqrt(q.size(-1));
        Tensor out = torch.scaled_dot_product_attention(q, k, v, new TensorOptional(mask), 0.0, false,
                new DoubleOptional(scale), gqa);                                   // (B, H, T, hd)
        return out.transpose(1, 2).reshape(q.size(0), q.size(2), q.size(1) * q.size(3));
    }
}
