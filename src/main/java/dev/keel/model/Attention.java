package dev.keel.model;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Multi-head and grouped-query attention through libtorch's {@code scaled_dot_product_attention}; a decoding step's one
 * query without gradients on the JVM instead ({@link DecodeAttention}).
 */
final class Attention {
    private Attention() {}

    /** (B, T, n * hd) to (B, n, T, hd). */
    /** x (B', 1, T, E), B' = 1 or B, at query columns {@code at} (B, K) of each row: (B, 1, K, E). */
    static Tensor queryRows(Tensor x, Tensor at) {
        long b = at.size(0);
        long kq = at.size(1);
        return x.expand(b, x.size(1), x.size(2), x.size(3))
                .gather(2, at.view(b, 1, kq, 1).expand(b, x.size(1), kq, x.size(3)));
    }

    /**
     * The rows of an attention mask (B', 1, T, S) for query columns {@code at} (B, K): (B, 1, K, S). A null mask
     * (plain causal over {@code keys} = T columns) becomes the causal rows: each query sees the keys up to its column.
     */
    static Tensor queryRowsOfMask(Tensor mask, Tensor at, long keys) {
        if (mask != null) {
            return queryRows(mask, at);
        }
        Tensor k = org.bytedeco.pytorch.global.torch.arange(dev.keel.tensor.Tensors.s(keys),
                dev.keel.tensor.Tensors.options(ScalarType.Long, at.device())).view(1, 1, 1, keys);
        return k.le(at.view(at.size(0), 1, at.size(1), 1));
    }

    static Tensor splitHeads(Tensor x, long heads, long headDim) {
        return x.view(x.size(0), x.size(1), heads, headDim).transpose(1, 2);
    }

    /**
     * softmax(q k^T / sqrt(hd) + mask) v, with q (B, H, T, hd) and k, v (B, KV, S, hd) where H is a multiple
     * of KV (each group of H / KV query heads shares one key/value head, as transformers' {@code repeat_kv}).
     *
     * @param mask (B, 1, T, S) bool, or null for no padding: then each query sees every key up to itself,
     *             which lets libtorch pick its fused causal kernel
     * @return (B, T, H * hd)
     */
    static Tensor attend(Tensor q, Tensor k, Tensor v, Tensor mask) {
        boolean gqa = q.size(1) != k.size(1);
        double scale = 1.0 / Math.sqrt(q.size(-1));
        long t = q.size(2);
        long s = k.size(2);
        if (mask == null && t != 1 && t != s) {
            throw new IllegalArgumentException("a null mask needs one query or as many queries as keys, got "
                    + t + " queries over " + s + " keys");
        }
        if (t == 1 && DecodeAttention.applies(q, k, v, mask)) {
            Tensor out = DecodeAttention.attend(q, k, v, mask, scale);            // (B, H, 1, hd)
            return out.view(q.size(0), 1, q.size(1) * q.size(3));
        }
        TensorOptional m = mask == null ? new TensorOptional() : new TensorOptional(mask);
        boolean causal = mask == null && t > 1;
        Tensor out;
        if (q.scalar_type() == ScalarType.Float && k.scalar_type() == ScalarType.Float && !torch.is_autocast_enabled(
                org.bytedeco.pytorch.global.torch.DeviceType.CPU)) {
            out = torch.scaled_dot_product_attention(q, k, v, m, 0.0, causal, new DoubleOptional(scale), gqa);
        } else {
            // libtorch's CPU flash attention in bfloat16 multiplies through its reference GEMM loop (no oneDNN
            // bf16-to-f32 product in this build): 55% of a --bf16 LoRA DPO step at the SmolLM2-135M shape. In
            // float32 it runs on OpenBLAS, so attention runs in float32 (autocast paused) and returns q's dtype.
            try (Autocast.Paused paused = Autocast.paused()) {
                out = torch.scaled_dot_product_attention(q.to(ScalarType.Float), k.to(ScalarType.Float),
                        v.to(ScalarType.Float), m, 0.0, causal, new DoubleOptional(scale), gqa).to(q.scalar_type());
            }
        }                                                                          // (B, H, T, hd)
        return out.transpose(1, 2).reshape(q.size(0), q.size(2), q.size(1) * q.size(3));
    }
}
