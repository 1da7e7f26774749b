package dev.keel.model;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.io.ModelConfig;

/**
 * One token through the Llama family's decoder at batch 1 with bfloat16 or float32 weights, computed on the JVM: the
 * products on {@link Bf16MvKernel} (as {@link Bf16Mv}) or {@link StepKernel}, and RMSNorm, rotary embeddings,
 * attention over the cache, SiLU and the residual adds as loops over a few thousand floats. The same step through
 * libtorch runs about 40 small operations per layer, each a native call with its dispatch and a tensor made for its
 * output; at the SmolLM2-135M shape those took two thirds of a bfloat16 token's time and the products one third
 * (docs/PERFORMANCE.md, items 24 and 26).
 *
 * <p>It computes what {@link LlamaModel}'s libtorch step computes (docs/ALGORITHMS.md §10); with bfloat16 weights,
 * rounding to bfloat16 where that step's tensors are bfloat16: every operation there takes its bfloat16 inputs to
 * float32, computes, and rounds its output once (RMSNorm's normalised values, then their product with the weight;
 * each product after its bias; the rotary embedding's x cos, then x cos + rotate_half(x) sin; attention's output,
 * computed in float32 as {@link Attention} does; SiLU, its product with up, each residual sum). The float32 sums are
 * added in another order, so hidden states agree to bfloat16's rounding (float32's with float32 weights), not bit for
 * bit.
 *
 * <p>Only for one sequence, one new token, no mask (no padding, no binding sliding window), no gradients, no
 * autocast, no LoRA update, on the CPU with the vector module ({@link #applies}); {@code KEEL_JVM_STEP=0} turns it
 * off. Keys and values are written into {@link KvCache}'s buffers in place, so libtorch's step and this one can
 * follow each other in one generation.
 */
final class LlamaJvmStep {
    private static volatile boolean enabled = !"0".equals(System.getenv("KEEL_JVM_STEP"));
    private static final java.util.concurrent.atomic.AtomicLong STEPS = new java.util.concurrent.atomic.AtomicLong();

    private final boolean bf16;
    /** Bytes per element of the weights, activations and cache: 2 (bfloat16) or 4 (float32). */
    private final int size;
    private final int d;
    private final int heads;
    private final int kvHeads;
    private final int hd;
    private final int ff;
    private final float eps;
    private final float scale;
    private final float[] invFreq;
    private final Matrix embed;
    /** The output head: the embedding when tied. */
    private final Matrix head;
    private final float[] finalNorm;
    private final Layer[] layers;
    // scratch, one generation on one thread
    private final float[] h;
    private final float[] a;
    private final float[] qkv;
    private final float[] attended;
    private final float[] o;
    private final float[] gu;
    private final float[] gated;
    private final float[] cos;
    private final float[] sin;
    private float[] xe = new float[0];
    private float[] xo = new float[0];
    private float[] y = new float[0];
    /** The same step in C, or null where the row kernels' library did not load. */
    private final NativeStep nativeStep;

    private LlamaJvmStep(ModelConfig c, float[] invFreq, Matrix embed, Matrix head, float[] finalNorm, Layer[] layers) {
        this.head = head;
        this.bf16 = embed.bf16;
        this.size = bf16 ? 2 : 4;
        this.d = c.hiddenSize();
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.hd = c.headDim();
        this.ff = c.intermediateSize();
        this.eps = (float) c.normEps();
        this.scale = (float) (1.0 / Math.sqrt(hd));
        this.invFreq = invFreq;
        this.embed = embed;
        this.finalNorm = finalNorm;
        this.layers = layers;
        h = new float[d];
        a = new float[d];
        qkv = new float[(heads + 2 * kvHeads) * hd];
        attended = new float[heads * hd];
        o = new float[d];
        gu = new float[2 * ff];
        gated = new float[ff];
        cos = new float[hd];
        sin = new float[hd];
        nativeStep = NativeRows.loaded() ? nativeStep() : null;
    }

    /** This step's model as {@link NativeStep}'s layout, or null when a product has more pieces than it takes. */
    private NativeStep nativeStep() {
        long[] w = new long[NativeStep.HEADER + layers.length * NativeStep.LAYER];
        List<float[]> vectors = new ArrayList<>();
        List<Integer> at = new ArrayList<>();
        NativeStep.header(w, bf16, d, heads, kvHeads, hd, ff, layers.length, eps, scale, embed.tensor.data_ptr().address());
        vectors.add(finalNorm);
        at.add(NativeStep.FINAL_NORM);
        vectors.add(invFreq);
        at.add(NativeStep.INV_FREQ);
        long bytes = 0;
        for (int i = 0; i < layers.length; i++) {
            Layer l = layers[i];
            int base = NativeStep.HEADER + i * NativeStep.LAYER;
            vectors.add(l.inNorm);
            at.add(base);
            vectors.add(l.postNorm);
            at.add(base + 1);
            Matrix[][] products = {l.qkv, l.o, l.gu, l.down};
            float[][] biases = {l.qkvBias, l.oBias, l.guBias, l.downBias};
            for (int p = 0; p < 4; p++) {
                int pb = base + 2 + p * NativeStep.PRODUCT;
                if (biases[p] != null) {
                    vectors.add(biases[p]);
                    at.add(pb);
                }
                if (products[p].length > NativeStep.PIECES) {
                    return null;
                }
                for (int j = 0; j < products[p].length; j++) {
                    Matrix m = products[p][j];
                    w[pb + 1 + 2 * j] = m.tensor.data_ptr().address();
                    w[pb + 2 + 2 * j] = m.rows;
                    bytes += (long) size * m.rows * m.cols;
                }
            }
        }
        return new NativeStep(w, vectors, at.stream().mapToInt(Integer::intValue).toArray(), layers.length, bytes);
    }

    /** Switches the step on or off (tests; {@code KEEL_JVM_STEP=0} starts it off); returns the previous setting. */
    static boolean enable(boolean on) {
        boolean was = enabled;
        enabled = on;
        return was;
    }

    /** Whether the step is on ({@code KEEL_JVM_STEP}; {@link DecodeAttention} follows the same switch). */
    static boolean enabled() {
        return enabled;
    }

    /** Compiles the step's kernels before their first real use (once per process). */
    static void warmUp() {
        WarmUp.ensure();
    }

    /** Number of steps computed in this process (for tests). */
    static long steps() {
        return STEPS.get();
    }

    /**
     * Whether the step applies: on, the vector module resolved, one sequence and one token, no mask, a cache already
     * holding positions, on the CPU, and either float32 weights or bfloat16 ones with {@link Bf16Mv} on (its switch
     * covers this step's bfloat16 products too) and even sizes (the kernel reads bfloat16 values in pairs). The caller
     * checks what only it knows (no gradients, no autocast, no LoRA update).
     */
    static boolean applies(ModelConfig c, Tensor inputIds, Tensor mask, KvCache cache, Tensor embedWeight) {
        if (!enabled || !Bf16Mv.available() || cache == null || mask != null || inputIds.numel() != 1
                || cache.length() == 0 || !inputIds.device().is_cpu()) {
            return false;
        }
        ScalarType t = embedWeight.scalar_type().intern();
        return t == ScalarType.Float || t == ScalarType.BFloat16 && Bf16Mv.enabled() && c.hiddenSize() % 2 == 0
                && c.headDim() % 2 == 0 && c.intermediateSize() % 2 == 0;
    }

    /**
     * The step for this generation (kept in {@code cache}), or null when a weight is not a contiguous tensor of the
     * embedding's dtype on the CPU of the expected shape, or is 2 GiB or more: then libtorch's step runs.
     *
     * @param w        the model's tensor by name
     * @param stacked  the stacked q/k/v or gate/up weight by key ({@code prefix + "q_proj+k_proj+v_proj"}), or null
     *                 when the model keeps no stacked copies
     * @param lmHead   the output head's weight (the embedding's when tied)
     */
    static LlamaJvmStep of(KvCache cache, ModelConfig c, double[] invFreq, Function<String, Tensor> w,
            Function<String, Tensor> wOrNull, Function<String, Tensor> stacked, Tensor lmHead) {
        Object s = cache.attached(LlamaJvmStep.class, () -> {
            LlamaJvmStep step = make(c, invFreq, w, wOrNull, stacked, lmHead);
            return step == null ? Boolean.FALSE : step;
        });
        return s instanceof LlamaJvmStep ? (LlamaJvmStep) s : null;
    }

    private static LlamaJvmStep make(ModelConfig c, double[] inv, Function<String, Tensor> w,
            Function<String, Tensor> wOrNull, Function<String, Tensor> stacked, Tensor lmHead) {
        String p = "model.";
        float[] invFreq = new float[inv.length];
        for (int i = 0; i < inv.length; i++) {
            invFreq[i] = (float) inv[i];
        }
        Tensor e = w.apply(p + "embed_tokens.weight");
        boolean bf16 = e.scalar_type().intern() == ScalarType.BFloat16;
        Matrix embed = Matrix.of(e, c.vocabSize(), c.hiddenSize(), bf16);
        if (embed == null) {
            return null;
        }
        int q = c.numHeads() * c.headDim();
        int kv = c.numKvHeads() * c.headDim();
        int dd = c.hiddenSize();
        int f = c.intermediateSize();
        Layer[] layers = new Layer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String l = p + "layers." + i + ".";
            Layer layer = new Layer();
            layer.inNorm = floats(w.apply(l + "input_layernorm.weight"));
            layer.postNorm = floats(w.apply(l + "post_attention_layernorm.weight"));
            layer.qkv = group(w, stacked, l + "self_attn.", new String[] {"q_proj", "k_proj", "v_proj"}, new int[] {q, kv, kv}, dd, bf16);
            layer.qkvBias = biases(wOrNull, l + "self_attn.", new String[] {"q_proj", "k_proj", "v_proj"}, q + 2 * kv);
            layer.o = group(w, null, l + "self_attn.", new String[] {"o_proj"}, new int[] {dd}, q, bf16);
            layer.oBias = biases(wOrNull, l + "self_attn.", new String[] {"o_proj"}, dd);
            layer.gu = group(w, stacked, l + "mlp.", new String[] {"gate_proj", "up_proj"}, new int[] {f, f}, dd, bf16);
            layer.guBias = biases(wOrNull, l + "mlp.", new String[] {"gate_proj", "up_proj"}, 2 * f);
            layer.down = group(w, null, l + "mlp.", new String[] {"down_proj"}, new int[] {dd}, f, bf16);
            layer.downBias = biases(wOrNull, l + "mlp.", new String[] {"down_proj"}, dd);
            if (layer.inNorm == null || layer.postNorm == null || layer.qkv == null || layer.o == null || layer.gu == null
                    || layer.down == null) {
                return null;
            }
            layers[i] = layer;
        }
        float[] finalNorm = floats(w.apply(p + "norm.weight"));
        Matrix head = c.tieWordEmbeddings() ? embed : Matrix.of(lmHead, c.vocabSize(), c.hiddenSize(), bf16);
        return finalNorm == null || head == null ? null : new LlamaJvmStep(c, invFreq, embed, head, finalNorm, layers);
    }

    /** The products {@code prefix + names[i]}: their stacked copy if the model keeps one, else one per name. */
    private static Matrix[] group(Function<String, Tensor> w, Function<String, Tensor> stacked, String prefix, String[] names,
            int[] rows, int cols, boolean bf16) {
        int total = 0;
        for (int r : rows) {
            total += r;
        }
        if (stacked != null && names.length > 1) {
            Matrix m = Matrix.of(stacked.apply(prefix + String.join("+", names)), total, cols, bf16);
            return m == null ? null : new Matrix[] {m};
        }
        Matrix[] ms = new Matrix[names.length];
        for (int i = 0; i < names.length; i++) {
            ms[i] = Matrix.of(w.apply(prefix + names[i] + ".weight"), rows[i], cols, bf16);
            if (ms[i] == null) {
                return null;
            }
        }
        return ms;
    }

    /** The biases of {@code prefix + names[i]} one after another as float32, or null when there are none. */
    private static float[] biases(Function<String, Tensor> wOrNull, String prefix, String[] names, int total) {
        List<float[]> parts = new ArrayList<>();
        for (String n : names) {
            Tensor b = wOrNull.apply(prefix + n + ".bias");
            if (b == null) {
                return null;
            }
            parts.add(floats(b));
        }
        float[] out = new float[total];
        int at = 0;
        for (float[] part : parts) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }

    private static float[] floats(Tensor t) {
        if (t == null || !t.device().is_cpu()) {
            return null;
        }
        return dev.keel.tensor.Tensors.toFloats(t.to(ScalarType.Float).contiguous());
    }

    /**
     * Final hidden states (1, 1, D) in the weights' dtype, after token {@code inputIds} at position {@code positionIds} (each
     * holding one value); appends the token's keys and values to {@code cache}.
     */
    Tensor step(Tensor inputIds, Tensor positionIds, KvCache cache) {
        STEPS.incrementAndGet();
        long id = dev.keel.tensor.Tensors.toLongs(inputIds)[0];
        long position = dev.keel.tensor.Tensors.toLongs(positionIds)[0];
        if (id < 0 || id >= embed.rows) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + embed.rows);
        }
        if (nativeStep != null && NativeStep.enabled()) {
            Tensor out = torch.empty(new long[] {1, 1, d}, embed.tensor.options(), new org.bytedeco.pytorch.MemoryFormatOptional());
            nativeStep.run(id, position, cache, Bf16Mv.bytes(out, (long) size * d));
            Reference.reachabilityFence(out);
            Reference.reachabilityFence(layers);
            Reference.reachabilityFence(embed.tensor);
            return out;
        }
        WarmUp.ensure();   // the Java kernels below: compiled once per process, not needed by the step in C
        for (int k = 0; k < d; k++) {
            h[k] = read(embed.bytes, (int) (id * d + k));
        }
        Reference.reachabilityFence(embed.tensor);
        rotary(position);
        int qDim = heads * hd;
        int kvDim = kvHeads * hd;
        for (int i = 0; i < layers.length; i++) {
            Layer l = layers[i];
            norm(h, l.inNorm, a);
            product(l.qkv, l.qkvBias, a, qkv);
            for (int head = 0; head < heads + kvHeads; head++) {
                rotate(qkv, head * hd);                              // the queries' heads, then the keys'
            }
            attend(cache, i, qDim, kvDim);
            product(l.o, l.oBias, attended, o);
            for (int k = 0; k < d; k++) {
                h[k] = round(h[k] + o[k]);
            }
            norm(h, l.postNorm, a);
            product(l.gu, l.guBias, a, gu);
            System.arraycopy(gu, 0, gated, 0, ff);
            StepKernel.silu(gated, ff);
            for (int k = 0; k < ff; k++) {
                gated[k] = round(round(gated[k]) * gu[ff + k]);
            }
            product(l.down, l.downBias, gated, o);
            for (int k = 0; k < d; k++) {
                h[k] = round(h[k] + o[k]);
            }
        }
        norm(h, finalNorm, a);
        Tensor out = torch.empty(new long[] {1, 1, d}, embed.tensor.options(), new org.bytedeco.pytorch.MemoryFormatOptional());
        ByteBuffer ob = Bf16Mv.bytes(out, (long) size * d);
        for (int k = 0; k < d; k++) {
            write(ob, k, a[k]);
        }
        Reference.reachabilityFence(out);
        return out;
    }

    /**
     * The logits (1, vocab) of final hidden states of one row in the weights' dtype (the step's output), or null for
     * any other input: x W^T on the head's weight, as {@link Ops#linear} gives it (rounded once to bfloat16 with
     * bfloat16 weights, so that case keeps {@link Bf16Mv}'s product, the same sums). With float32 weights this keeps
     * OpenBLAS out of the generation: its threads spin for a while after each call, and the spinning took a core
     * from the next step's products (float32 batch-1 decoding at the SmolLM2-135M shape 39.8 tokens/s with the head
     * on OpenBLAS; docs/PERFORMANCE.md, item 26).
     */
    Tensor head(Tensor hidden) {
        if (bf16 || hidden.numel() != d || hidden.scalar_type().intern() != ScalarType.Float || !hidden.device().is_cpu()) {
            return null;
        }
        float[] x = dev.keel.tensor.Tensors.toFloats(hidden.contiguous());
        int rows = head.rows;
        if (y.length < rows) {
            y = new float[rows];
        }
        float[] yy = y;
        Bf16Mv.split(rows, 4L * rows * d, (r0, r1) -> NativeRows.rowsF32(head.bytes, 0, d, x, yy, r0, r1));
        Reference.reachabilityFence(head.tensor);
        long[] shape = dev.keel.tensor.Tensors.shape(hidden);
        shape[shape.length - 1] = rows;
        Tensor out = torch.empty(shape, hidden.options(), new org.bytedeco.pytorch.MemoryFormatOptional());
        Bf16Mv.bytes(out, 4L * rows).asFloatBuffer().put(y, 0, rows);
        Reference.reachabilityFence(out);
        return out;
    }

    /**
     * cos and the signed sin of {@link RotaryEmbedding#cosSin} at {@code position}: the angle position x inv_freq in
     * float32, its cosine and sine (rounded to bfloat16 with bfloat16 weights), the sine's first half negated.
     */
    private void rotary(long position) {
        int half = hd / 2;
        float pos = (float) position;
        for (int i = 0; i < half; i++) {
            float angle = pos * invFreq[i];
            float c = round((float) Math.cos(angle));
            float s = round((float) Math.sin(angle));
            cos[i] = c;
            cos[i + half] = c;
            sin[i] = -s;
            sin[i + half] = s;
        }
    }

    /** The head at {@code at} of {@code x} rotated in place: x cos + roll(x, hd / 2) sin, as {@link RotaryEmbedding#apply}. */
    private void rotate(float[] x, int at) {
        int half = hd / 2;
        for (int j = 0; j < half; j++) {
            float x1 = x[at + j];
            float x2 = x[at + j + half];
            x[at + j] = round(round(x1 * cos[j]) + x2 * sin[j]);
            x[at + j + half] = round(round(x2 * cos[j + half]) + x1 * sin[j + half]);
        }
    }

    /**
     * Appends this token's keys and values (in {@link #qkv} after the queries) to layer {@code i} of the cache and
     * writes softmax(q k^T / sqrt(hd)) v of every query head into {@link #attended}, in float32 then rounded.
     */
    private void attend(KvCache cache, int i, int qDim, int kvDim) {
        Tensor[] kv = cache.room(i, 1);
        long cap = kv[0].size(2);
        int pos = (int) cache.filled(i);
        int n = pos + 1;
        long bytes = (long) size * kvHeads * cap * hd;
        ByteBuffer kb = Bf16Mv.bytes(kv[0], bytes);
        ByteBuffer vb = Bf16Mv.bytes(kv[1], bytes);
        for (int g = 0; g < kvHeads; g++) {
            int row = (int) ((g * cap + pos) * hd);
            for (int j = 0; j < hd; j++) {
                write(kb, row + j, qkv[qDim + g * hd + j]);
                write(vb, row + j, qkv[qDim + kvDim + g * hd + j]);
            }
        }
        cache.advance(i, 1);
        float[][] scratch = DecodeAttention.scratch(n, hd);
        float[] out = scratch[5];
        int group = heads / kvHeads;
        for (int head = 0; head < heads; head++) {
            int start = (int) ((long) size * (head / group) * cap * hd);
            DecodeAttention.head(bf16, kb, start, vb, start, hd, n, scale, qkv, head * hd, null, 0, scratch, out);
            for (int k = 0; k < hd; k++) {
                attended[head * hd + k] = round(out[k]);
            }
        }
        Reference.reachabilityFence(kv);
    }

    /**
     * RMSNorm as {@link LlamaModel}'s: x / sqrt(mean(x^2) + eps), times the weight; for bfloat16, each of the two
     * rounded.
     */
    private void norm(float[] x, float[] weight, float[] out) {
        double sum = 0;
        for (int k = 0; k < d; k++) {
            sum += x[k] * x[k];
        }
        float r = (float) (1.0 / Math.sqrt((float) ((float) (sum / d) + eps)));
        for (int k = 0; k < d; k++) {
            out[k] = round(weight[k] * round(x[k] * r));
        }
    }

    /**
     * out = x W^T (+ b) through the matrices of a group one after another, each output rounded to bfloat16 with
     * bfloat16 weights: each thread adds the bias to its rows and rounds them as it writes them
     * ({@link NativeRows#rowsBf16(ByteBuffer, int, int, float[], float[], float[], int, float[], int, boolean, int, int)}).
     */
    private void product(Matrix[] ms, float[] bias, float[] x, float[] out) {
        int cols = ms[0].cols;
        if (bf16) {
            if (xe.length < cols / 2) {
                xe = new float[cols / 2];
                xo = new float[cols / 2];
            }
            for (int k = 0; k < cols / 2; k++) {
                xe[k] = x[2 * k];
                xo[k] = x[2 * k + 1];
            }
        }
        int at = 0;
        for (Matrix m : ms) {
            float[] ev = xe;
            float[] od = xo;
            int from = at;
            if (bf16) {
                Bf16Mv.split(m.rows, 2L * m.rows * m.cols,
                        (r0, r1) -> NativeRows.rowsBf16(m.bytes, 0, m.cols, ev, od, out, from, bias, from, true, r0, r1));
            } else {
                Bf16Mv.split(m.rows, 4L * m.rows * m.cols,
                        (r0, r1) -> NativeRows.rowsF32(m.bytes, 0, m.cols, x, out, from, bias, from, false, r0, r1));
            }
            Reference.reachabilityFence(m.tensor);
            at += m.rows;
        }
    }

    /** f rounded to bfloat16 with bfloat16 weights; f itself with float32 ones. */
    private float round(float f) {
        return bf16 ? toBf16(f) : f;
    }

    /** f rounded to the nearest bfloat16 (ties to even), as a float. */
    static float toBf16(float f) {
        return Float.intBitsToFloat(Bf16Mv.toBf16(f) << 16);
    }

    /** Element {@code i} of a buffer of the weights' dtype, as a float. */
    private float read(ByteBuffer b, int i) {
        return bf16 ? Float.intBitsToFloat(b.getShort(2 * i) << 16) : b.getFloat(4 * i);
    }

    /** Element {@code i} of a buffer of the weights' dtype set to f (rounded to bfloat16 with bfloat16 weights). */
    private void write(ByteBuffer b, int i, float f) {
        if (bf16) {
            b.putShort(2 * i, Bf16Mv.toBf16(f));
        } else {
            b.putFloat(4 * i, f);
        }
    }

    /** A (rows, cols) contiguous bfloat16 or float32 weight on the CPU and its memory. */
    private static final class Matrix {
        final Tensor tensor;
        final ByteBuffer bytes;
        final boolean bf16;
        final int rows;
        final int cols;

        private Matrix(Tensor tensor, int rows, int cols, boolean bf16) {
            this.tensor = tensor;
            this.rows = rows;
            this.cols = cols;
            this.bf16 = bf16;
            this.bytes = Bf16Mv.bytes(tensor, (bf16 ? 2L : 4L) * rows * cols);
        }

        /**
         * The matrix, or null when {@code t} is not a contiguous (rows, cols) tensor on the CPU, bfloat16 or float32
         * as asked, under 2 GiB.
         */
        static Matrix of(Tensor t, long rows, long cols, boolean bf16) {
            if (t == null || t.dim() != 2 || t.size(0) != rows || t.size(1) != cols || !t.is_contiguous()
                    || t.scalar_type().intern() != (bf16 ? ScalarType.BFloat16 : ScalarType.Float) || !t.device().is_cpu()
                    || (bf16 ? 2L : 4L) * rows * cols >= Integer.MAX_VALUE) {
                return null;
            }
            return new Matrix(t, (int) rows, (int) cols, bf16);
        }
    }

    /** The kernels compiled before the first step (once per process; see {@link Bf16Mv}'s warm-up). */
    private static final class WarmUp {
        static {
            Bf16Mv.warmUp();
            StepKernel.warmUp();
        }

        static void ensure() {
            // the class's initialisation above runs once, on the first call, and other callers wait for it
        }
    }

    private static final class Layer {
        float[] inNorm;
        float[] postNorm;
        Matrix[] qkv;
        float[] qkvBias;
        Matrix[] o;
        float[] oBias;
        Matrix[] gu;
        float[] guBias;
        Matrix[] down;
        float[] downBias;
    }
}
