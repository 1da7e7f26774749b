package dev.keel.model;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Attention of one new query per sequence over the keys and values so far (a decoding step of libtorch's forward,
 * any batch), on the JVM: for each sequence and query head, the scores q·k / sqrt(hd) in float32, softmax in
 * float32, the weighted sum of the values in float32, rounded once to the inputs' dtype; the (sequence, head) pairs
 * split between the calling thread and {@link Bf16Mv}'s helpers. The same sums {@link LlamaJvmStep} computes for
 * batch 1, on the same kernels.
 *
 * <p>libtorch's CPU {@code scaled_dot_product_attention} for this case runs two small OpenBLAS products per head and
 * block (each packing its operands, its threads woken and left spinning), and with bfloat16 inputs {@link Attention}
 * first converts the whole cache so far to float32 at every step and layer: at the SmolLM2-135M shape, batch 16,
 * 48-80 keys, bfloat16, 390-500 us a layer, of a step of about 60 ms over 30 layers (docs/PERFORMANCE.md, item 27).
 */
final class DecodeAttention {
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[6][0]);
    /** The calling thread's queries, kept between calls: a fresh array per layer and step grew the heap. */
    private static final ThreadLocal<float[][]> QUERIES = ThreadLocal.withInitial(() -> new float[1][0]);

    private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();

    private DecodeAttention() {}

    /** Number of attentions computed here in this process (for tests). */
    static long calls() {
        return CALLS.get();
    }

    /**
     * Whether {@link #attend} takes this case: one query (q (B, H, 1, hd)), no mask or a boolean one over the keys
     * ((B or 1, 1, 1, S), true where a key takes part, as {@link AttentionMask#causal}), no gradients, q, k and v of one
     * dtype (float32, or bfloat16 with {@link Bf16Mv} on) on the CPU, each key and value row contiguous, hd even, the
     * JVM step on ({@code KEEL_JVM_STEP}) and the vector module there.
     */
    static boolean applies(Tensor q, Tensor k, Tensor v, Tensor mask) {
        if (q.size(2) != 1 || !LlamaJvmStep.enabled() || !Bf16Mv.available()
                || org.bytedeco.pytorch.GradMode.is_enabled() || !q.device().is_cpu() || !k.device().is_cpu()
                || !v.device().is_cpu()) {
            return false;
        }
        ScalarType t = q.scalar_type().intern();
        if (t != k.scalar_type().intern() || t != v.scalar_type().intern()
                || !(t == ScalarType.Float || t == ScalarType.BFloat16 && Bf16Mv.enabled())) {
            return false;
        }
        if (mask != null && !(mask.dim() == 4 && mask.scalar_type().intern() == ScalarType.Bool && mask.device().is_cpu()
                && (mask.size(0) == 1 || mask.size(0) == q.size(0)) && mask.size(1) == 1 && mask.size(2) == 1
                && mask.size(3) == k.size(2))) {
            return false;
        }
        long hd = q.size(3);
        return hd % 2 == 0 && k.size(3) == hd && v.size(3) == hd && k.size(2) == v.size(2) && k.size(2) > 0
                && q.size(1) % k.size(1) == 0 && k.size(1) == v.size(1) && k.size(0) == q.size(0) && v.size(0) == q.size(0)
                && q.stride(3) == 1 && rowsContiguous(k) && rowsContiguous(v) && extent(k) <= Integer.MAX_VALUE
                && extent(v) <= Integer.MAX_VALUE;
    }

    /**
     * softmax(q k^T · scale) v for q (B, H, 1, hd) and k, v (B, KV, S, hd) where H is a multiple of KV (grouped-query
     * heads share their group's keys and values), the keys {@code mask} holds false left out (null: none); returns
     * (B, H, 1, hd) in q's dtype. Check {@link #applies} first.
     */
    static Tensor attend(Tensor q, Tensor k, Tensor v, Tensor mask, double scale) {
        boolean bf16 = q.scalar_type().intern() == ScalarType.BFloat16;
        LlamaJvmStep.warmUp();
        int b = (int) q.size(0);
        int heads = (int) q.size(1);
        int kvHeads = (int) k.size(1);
        int n = (int) k.size(2);
        int hd = (int) q.size(3);
        int size = bf16 ? 2 : 4;
        float[] qs = queries(q, b, heads, hd, size);                                         // (B, H, hd)
        Tensor out = torch.empty(new long[] {b, heads, 1, hd}, q.options(), new org.bytedeco.pytorch.MemoryFormatOptional());
        ByteBuffer ob = Bf16Mv.bytes(out, (long) size * b * heads * hd);
        ByteBuffer kb = Bf16Mv.bytes(k, extent(k));
        ByteBuffer vb = Bf16Mv.bytes(v, extent(v));
        int group = heads / kvHeads;
        float sc = (float) scale;
        long kb0 = k.stride(0);
        long kb1 = k.stride(1);
        long vb0 = v.stride(0);
        long vb1 = v.stride(1);
        boolean[] allowed = allowed(mask, b, n);
        long bytes = 2L * size * b * kvHeads * n * hd;
        CALLS.incrementAndGet();
        Bf16Mv.splitThenPark(b * heads, bytes, (p0, p1) -> {
            float[][] s = scratch(n, hd);
            float[] o = s[5];
            for (int p = p0; p < p1; p++) {
                int seq = p / heads;
                int g = (p % heads) / group;
                int at = p * hd;
                head(bf16, kb, (int) (size * (seq * kb0 + g * kb1)), vb, (int) (size * (seq * vb0 + g * vb1)), hd, n, sc,
                        qs, at, allowed, seq * n, s, o);
                for (int j = 0; j < hd; j++) {
                    if (bf16) {
                        ob.putShort(2 * (at + j), Bf16Mv.toBf16(o[j]));
                    } else {
                        ob.putFloat(4 * (at + j), o[j]);
                    }
                }
            }
        });
        Reference.reachabilityFence(k);
        Reference.reachabilityFence(v);
        return out;
    }

    /** The mask (B or 1, 1, 1, n) as (B, n) flags, or null for none. */
    private static boolean[] allowed(Tensor mask, int b, int n) {
        if (mask == null) {
            return null;
        }
        long m0 = mask.size(0) == 1 ? 0 : mask.stride(0);
        long m3 = mask.stride(3);
        ByteBuffer mb = Bf16Mv.bytes(mask, extent(mask));
        boolean[] out = new boolean[b * n];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < n; j++) {
                out[i * n + j] = mb.get((int) (i * m0 + j * m3)) != 0;
            }
        }
        Reference.reachabilityFence(mask);
        return out;
    }

    /** q (B, H, 1, hd) as float32 (B, H, hd), read in place through its strides (its last dimension contiguous). */
    private static float[] queries(Tensor q, int b, int heads, int hd, int size) {
        long s0 = q.stride(0);
        long s1 = q.stride(1);
        ByteBuffer qb = Bf16Mv.bytes(q, extent(q));
        float[][] keep = QUERIES.get();
        if (keep[0].length < b * heads * hd) {
            keep[0] = new float[b * heads * hd];
        }
        float[] out = keep[0];
        for (int i = 0; i < b; i++) {
            for (int h = 0; h < heads; h++) {
                long from = i * s0 + h * s1;
                int at = (i * heads + h) * hd;
                for (int j = 0; j < hd; j++) {
                    int e = (int) (from + j);
                    out[at + j] = size == 2 ? Float.intBitsToFloat(qb.getShort(2 * e) << 16) : qb.getFloat(4 * e);
                }
            }
        }
        Reference.reachabilityFence(q);
        return out;
    }

    /**
     * softmax(q k^T · scale) v of one query head over n keys, in float32 and not rounded, into {@code out[0, hd)}: q at
     * {@code q[qAt, qAt + hd)}, the keys' and values' rows of hd elements (bfloat16 or float32) from byte {@code kFrom}
     * of kb and {@code vFrom} of vb, the keys {@code allowed[allowedAt + j]} holds false left out (allowed null: none);
     * {@code s} from {@link #scratch}. {@link LlamaJvmStep}'s attention and {@link #attend} both compute a head here.
     */
    static void head(boolean bf16, ByteBuffer kb, int kFrom, ByteBuffer vb, int vFrom, int hd, int n, float scale,
                     float[] q, int qAt, boolean[] allowed, int allowedAt, float[][] s, float[] out) {
        float[] scores = s[0];
        if (bf16) {
            for (int j = 0; j < hd / 2; j++) {
                s[1][j] = q[qAt + 2 * j];
                s[2][j] = q[qAt + 2 * j + 1];
            }
            Bf16MvKernel.rows(kb, kFrom, hd, s[1], s[2], scores, 0, n);
        } else {
            System.arraycopy(q, qAt, s[1], 0, hd);
            StepKernel.rows(kb, kFrom, hd, s[1], scores, 0, n);
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            scores[j] = allowed == null || allowed[allowedAt + j] ? scores[j] * scale : Float.NEGATIVE_INFINITY;
            max = Math.max(max, scores[j]);
        }
        float sum = StepKernel.expShifted(scores, n, max);
        if (bf16) {
            java.util.Arrays.fill(s[3], 0, hd / 2, 0f);
            java.util.Arrays.fill(s[4], 0, hd / 2, 0f);
            Bf16MvKernel.accumulate(vb, vFrom, hd, scores, n, s[3], s[4]);
            for (int j = 0; j < hd / 2; j++) {
                out[2 * j] = s[3][j] / sum;
                out[2 * j + 1] = s[4][j] / sum;
            }
        } else {
            java.util.Arrays.fill(s[3], 0, hd, 0f);
            StepKernel.accumulate(vb, vFrom, hd, scores, n, s[3]);
            for (int j = 0; j < hd; j++) {
                out[j] = s[3][j] / sum;
            }
        }
    }

    /** This thread's scratch for {@link #head}: scores (at least n), then five vectors of hd floats. */
    static float[][] scratch(int n, int hd) {
        float[][] s = SCRATCH.get();
        if (s[0].length < n) {
            s[0] = new float[Math.max(n, 2 * s[0].length)];
        }
        if (s[1].length < hd) {
            for (int i = 1; i < 6; i++) {
                s[i] = new float[hd];
            }
        }
        return s;
    }

    /** Whether the last two dimensions are rows of contiguous elements, one after another. */
    private static boolean rowsContiguous(Tensor t) {
        return t.stride(3) == 1 && t.stride(2) == t.size(3);
    }

    /** Bytes from a four-dimensional tensor's first element to the end of its last. */
    private static long extent(Tensor t) {
        long last = 0;
        for (int i = 0; i < 4; i++) {
            last += (t.size(i) - 1) * t.stride(i);
        }
        return (last + 1) * t.element_size();
    }
}
