package dev.keel.model;

import java.lang.ref.Reference;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The greedy pick of a generation, each row's argmax over the vocabulary, in C ({@link NativeRows}). libtorch's
 * {@code argmax(-1)} compares one value at a time with its index and a NaN check: at batch 1 it took about 230 us per
 * token over SmolLM2-135M's 49,152 logits in bfloat16 (290 with the cast to float32 before it), a thirtieth of a
 * decoded token (docs/PERFORMANCE.md, item 34).
 */
public final class Argmax {
    private Argmax() {}

    /**
     * Each row's index of its largest value for logits (B, V), as {@code logits.argmax(-1)} gives it (the first of
     * equal values; a NaN above every number, the first NaN), or null where this does not apply and the caller runs
     * libtorch's: the library not loaded or switched off ({@code KEEL_NATIVE_ROWS=0}), or logits not a contiguous 2-D float32 or bfloat16 tensor on the CPU with
     * at least one column, or needing gradients.
     */
    public static long[] rows(Tensor logits) {
        if (!NativeRows.enabled() || logits.dim() != 2 || logits.size(1) < 1 || !logits.device().is_cpu()
                || !logits.is_contiguous() || logits.requires_grad()) {
            return null;
        }
        ScalarType t = logits.scalar_type().intern();
        if (t != ScalarType.Float && t != ScalarType.BFloat16) {
            return null;
        }
        boolean bf16 = t == ScalarType.BFloat16;
        long bytes = logits.numel() * (bf16 ? 2L : 4L);
        if (bytes >= Integer.MAX_VALUE) {
            return null;
        }
        int rows = (int) logits.size(0);
        long[] out = new long[rows];
        if (rows > 0) {
            NativeRows.argmaxRows(Bf16Mv.bytes(logits, bytes), rows, (int) logits.size(1), bf16, out);
        }
        Reference.reachabilityFence(logits);
        return out;
    }
}
