package dev.keel.model;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * {@link LlamaJvmStep}'s step in C ({@code step_run} in {@code src/main/c/keel_rows.c}): the same operations and
 * roundings, run by the calling thread and {@link Bf16Mv}'s helpers together, the helpers in C for the whole token and
 * waiting at spin barriers between the products; the attention and SiLU split between the threads, the norms and
 * residual sums on the calling thread. The JVM step
 * hands each product to the helpers and back (121 a token at the SmolLM2-135M shape) and does the work between them
 * in Java. In one JVM, the two steps taking turns by generation, a SmolLM2-135M bfloat16 token took a median 7.0-7.3
 * ms in C against 7.7-7.8 in Java, 1.04-1.11x in bfloat16 at both real shapes (docs/PERFORMANCE.md, item 37).
 *
 * <p>It runs where the row kernels' library loaded ({@link NativeRows#enabled()}) and {@code KEEL_NATIVE_STEP} is not
 * {@code 0}; otherwise the JVM step runs. Both give the same hidden states up to float32 rounding order (the
 * attention's scores and softmax sum, and {@code exp}, which the JDK and the C library compute to different last
 * bits).
 *
 * <p>The model is given to C as a layout of 64-bit words in native memory: a header of {@link #HEADER} words (the
 * shape, eps, the scale, the addresses of the embedding, the final norm and the inverse frequencies), then
 * {@link #LAYER} words a layer (its two norms, then four products, each a bias address and up to three (weight
 * address, rows) pieces). The addresses point into the weights' tensors, which the step's owner keeps, and into this
 * object's own buffers.
 */
final class NativeStep {
    /** Words before the first layer's. */
    static final int HEADER = 16;
    /** Words of one product: its bias's address (0: none), then (weight address, rows) for up to three pieces. */
    static final int PRODUCT = 7;
    /** Words of one layer: its two norms' addresses, then its four products (q/k/v, o, gate/up, down). */
    static final int LAYER = 2 + 4 * PRODUCT;
    /** Most pieces one product has (q, k and v kept apart). */
    static final int PIECES = 3;
    /** The header's words for the addresses of the final norm's weight and of the inverse frequencies. */
    static final int FINAL_NORM = 10;
    static final int INV_FREQ = 11;

    /** The scratch's byte a thread sets when it fails before reaching the step, so the others stop waiting for it. */
    static final int ABORT_BYTE = 128;

    private static volatile boolean enabled = !"0".equals(System.getenv("KEEL_NATIVE_STEP"));
    /** For tests: the next helper to join a step fails before it reaches C. */
    static final java.util.concurrent.atomic.AtomicBoolean FAIL_NEXT_HELPER = new java.util.concurrent.atomic.AtomicBoolean();
    private static final AtomicLong STEPS = new AtomicLong();

    private final ByteBuffer layout;
    /** The float32 vectors the layout points to (norms, biases, inverse frequencies). */
    private final ByteBuffer vectors;
    private final ByteBuffer scratch;
    /** Four words a layer for each call: keys' and values' addresses, capacity, positions filled. */
    private final ByteBuffer cacheWords;
    /** The attention's scores, {@link #scoresStride} floats for each thread. */
    private ByteBuffer scores;
    private int scoresStride;
    private final int layers;
    /** Why a step failed, after which this step refuses to run (its barriers are left mid-token); null before. */
    private Throwable broken;
    /** Bytes of weights a step reads, for the split's threshold. */
    private final long bytes;

    /**
     * A step of the model described by {@code words} (header, then layers; see the class comment) with
     * {@code vectors.get(i)} written to native memory and its address put at word {@code at[i]}.
     */
    NativeStep(long[] words, List<float[]> vectors, int[] at, int layers, long bytes) {
        if (words.length != HEADER + (long) layers * LAYER || vectors.size() != at.length) {
            throw new IllegalArgumentException("step layout of " + words.length + " words for " + layers + " layers, "
                    + vectors.size() + " vectors at " + at.length + " places");
        }
        this.layers = layers;
        this.bytes = bytes;
        long total = 0;
        for (float[] v : vectors) {
            total += (v.length + 15L) / 16 * 64;
        }
        this.vectors = direct(total);
        long base = address(this.vectors);
        long[] w = words.clone();
        int offset = 0;
        for (int i = 0; i < at.length; i++) {
            float[] v = vectors.get(i);
            for (int j = 0; j < v.length; j++) {
                this.vectors.putFloat(offset + 4 * j, v[j]);
            }
            w[at[i]] = base + offset;
            offset += (v.length + 15) / 16 * 64;
        }
        layout = direct(8L * w.length);
        layout.asLongBuffer().put(w);
        scratch = direct(scratchBytes(layout));
        cacheWords = direct(32L * layers);
    }

    /**
     * Writes the header's words the model's shape gives (keel_rows.c's STEP_BF16 to STEP_EMBED, in that order); the
     * addresses of {@link #FINAL_NORM} and {@link #INV_FREQ} come from the constructor's vectors.
     */
    static void header(long[] w, boolean bf16, int d, int heads, int kvHeads, int headDim, int ff, int layers, float eps,
            float scale, long embed) {
        long[] words = {bf16 ? 1 : 0, d, heads, kvHeads, headDim, ff, layers, Float.floatToRawIntBits(eps),
                Float.floatToRawIntBits(scale), embed};
        System.arraycopy(words, 0, w, 0, words.length);
    }

    /** Whether the step runs in C: the library loaded and on, and {@code KEEL_NATIVE_STEP} not 0. */
    static boolean enabled() {
        return enabled && NativeRows.enabled();
    }

    /** Switches the step in C on or off (tests; {@code KEEL_NATIVE_STEP=0} starts it off); returns the previous setting. */
    static boolean enable(boolean on) {
        boolean was = enabled;
        enabled = on;
        return was;
    }

    /** Number of steps computed in C in this process (for tests). */
    static long steps() {
        return STEPS.get();
    }

    /** The address of a direct buffer's first byte (whatever its position). */
    static long address(ByteBuffer b) {
        return new Pointer(b).address();
    }

    /** A zeroed direct buffer of n bytes in native order, its first byte on a cache line. */
    private static ByteBuffer direct(long n) {
        if (n + 128 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("native step buffer of " + n + " bytes");
        }
        // alignedSlice moves the start up to a cache line and the end down to one: room for both
        return ByteBuffer.allocateDirect((int) ((n + 63) / 64 * 64 + 64)).alignedSlice(64).order(ByteOrder.nativeOrder());
    }

    /**
     * Token {@code id} at {@code position} through every layer: its keys and values written into {@code cache} (one
     * position more in every layer), the final norm's output into {@code out} (d values of the weights' dtype).
     */
    void run(long id, long position, KvCache cache, ByteBuffer out) {
        if (broken != null) {
            throw new IllegalStateException("the decoding step in C failed at an earlier token: " + broken, broken);
        }
        Tensor[][] kv = new Tensor[layers][];
        long most = 0;
        for (int i = 0; i < layers; i++) {
            kv[i] = cache.room(i, 1);
            long cap = kv[i][0].size(2);
            long filled = cache.filled(i);
            if (filled >= cap) {
                throw new IllegalStateException("layer " + i + ": " + filled + " positions filled of " + cap);
            }
            cacheWords.putLong(32 * i, kv[i][0].data_ptr().address());
            cacheWords.putLong(32 * i + 8, kv[i][1].data_ptr().address());
            cacheWords.putLong(32 * i + 16, cap);
            cacheWords.putLong(32 * i + 24, filled);
            most = Math.max(most, filled + 1);
        }
        int threads = Math.max(1, Math.min(torch.get_num_threads(), Bf16Mv.MAX_THREADS));
        if (scoresStride < most) {
            scoresStride = (int) Math.max(most, 2L * scoresStride);
            scores = direct(4L * Bf16Mv.MAX_THREADS * scoresStride);
        }
        ByteBuffer s = scores;
        int stride = scoresStride;
        // every thread of the split runs the step; a thread given every index runs it alone (no helper free)
        try {
            Bf16Mv.split(threads, bytes, (r0, r1) -> {
                boolean alone = r1 - r0 == threads;
                try {
                    if (r0 != 0 && FAIL_NEXT_HELPER.getAndSet(false)) {
                        throw new IllegalStateException("a helper failed (FAIL_NEXT_HELPER)");
                    }
                    run(layout, cacheWords, id, position, out, scratch, s, stride, alone ? 0 : r0, alone ? 1 : threads);
                } catch (RuntimeException | Error e) {
                    scratch.putInt(ABORT_BYTE, 1);   // the other threads wait for this one at the step's barriers
                    throw e;
                }
            }, Bf16Mv.SPIN_NANOS);
        } catch (RuntimeException | Error e) {
            broken = e;   // the barriers are left mid-token: no more steps on this scratch
            throw e;
        }
        for (int i = 0; i < layers; i++) {
            cache.advance(i, 1);
        }
        STEPS.incrementAndGet();
        Reference.reachabilityFence(kv);
    }

    private static native long scratchBytes(ByteBuffer layout);

    private static native void run(ByteBuffer layout, ByteBuffer cache, long id, long position, ByteBuffer out,
            ByteBuffer scratch, ByteBuffer scores, int stride, int thread, int threads);
}
