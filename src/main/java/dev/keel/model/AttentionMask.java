package dev.keel.model;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Attention masks and position ids for padded batches. Padding may be on either side: a token's position id
 * counts only the real tokens before it (as transformers' {@code generate} computes it from the attention
 * mask), so a left-padded prompt gets the same positions as the prompt alone.
 */
public final class AttentionMask {
    private AttentionMask() {}

    /**
     * Position ids from a padding mask: {@code cumsum(mask) - 1}, with 0 at pad positions.
     *
     * @param keep (B, S) int64 or bool, 1 for a real token, 0 for padding
     * @return (B, S) int64
     */
    public static Tensor positionIds(Tensor keep) {
        Tensor k = keep.to(ScalarType.Long);
        Tensor pos = k.cumsum(1).sub(s(1L));
        return pos.masked_fill(k.eq(s(0L)), s(0L));
    }

    /**
     * The boolean mask (B, 1, T, S) for T new queries over S = past + T keys: query i (at column past + i)
     * sees key j when j is not padding, j is not in its future, and, with a sliding window w > 0, past + i - j
     * is less than w. Every query also sees itself, so a query at a pad position has one key to attend to and
     * its (ignored) output stays finite rather than NaN.
     *
     * @param keep   (B, S) 1 for a real token, 0 for padding, over all cached plus new columns
     * @param newLen T, the number of new queries (the last T columns)
     * @param window sliding-window size in tokens, 0 for none
     */
    public static Tensor causal(Tensor keep, long newLen, int window) {
        long total = keep.size(1);
        long past = total - newLen;
        TensorOptions longOpts = dev.keel.tensor.Tensors.options(ScalarType.Long, keep.device());
        Tensor q = torch.arange(s(past), s(total), longOpts).view(newLen, 1);   // (T, 1) query columns
        Tensor k = torch.arange(s(0L), s(total), longOpts).view(1, total);      // (1, S) key columns
        Tensor allowed = k.le(q);                                              // (T, S) causal
        if (window > 0) {
            allowed = allowed.logical_and(q.sub(k).lt(s((long) window)));
        }
        Tensor notPad = keep.to(ScalarType.Bool).view(keep.size(0), 1, 1, total);  // (B, 1, 1, S)
        Tensor mask = allowed.view(1, 1, newLen, total).logical_and(notPad);      // (B, 1, T, S)
        Tensor self = k.eq(q).view(1, 1, newLen, total);
        return mask.logical_or(self);
    }
}
