package dev.keel.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float32 loops of {@link LlamaJvmStep} in the JDK's vector API: a float32 matrix's rows times a vector, the
 * weighted sum of float32 rows, and exp. Like {@link Bf16MvKernel}, loaded only when the JVM resolved
 * jdk.incubator.vector, so no other class names these types.
 */
final class StepKernel {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;

    private StepKernel() {}

    /**
     * y[r] = sum over k of W[r, k] x[k] for rows r0 (inclusive) to r1, float32 sums.
     *
     * @param w W (rows, cols) in float32, row-major, little endian, from byte 0
     */
    static void rows(ByteBuffer w, int cols, float[] x, float[] y, int r0, int r1) {
        rows(w, 0, cols, x, y, r0, r1);
    }

    /** {@link #rows(ByteBuffer, int, float[], float[], int, int)} with W from byte {@code from} of w. */
    static void rows(ByteBuffer w, int from, int cols, float[] x, float[] y, int r0, int r1) {
        int lanes = FLOATS.length();
        int upper = cols - cols % lanes;
        for (int r = r0; r < r1; r++) {
            int base = from + r * cols * 4;
            FloatVector acc = FloatVector.zero(FLOATS);
            int k = 0;
            for (; k < upper; k += lanes) {
                acc = FloatVector.fromByteBuffer(FLOATS, w, base + 4 * k, ByteOrder.LITTLE_ENDIAN)
                        .fma(FloatVector.fromArray(FLOATS, x, k), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (; k < cols; k++) {
                s += w.getFloat(base + 4 * k) * x[k];
            }
            y[r] = s;
        }
    }

    /**
     * out[k] += sum over rows s in [0, n) of p[s] W[s, k], W float32 (n, cols) from byte {@code from} of w: attention's
     * weighted sum of values.
     */
    static void accumulate(ByteBuffer w, int from, int cols, float[] p, int n, float[] out) {
        int lanes = FLOATS.length();
        int upper = cols - cols % lanes;
        int k = 0;
        for (; k < upper; k += lanes) {
            FloatVector acc = FloatVector.fromArray(FLOATS, out, k);
            for (int s = 0; s < n; s++) {
                acc = FloatVector.fromByteBuffer(FLOATS, w, from + 4 * (s * cols + k), ByteOrder.LITTLE_ENDIAN)
                        .fma(FloatVector.broadcast(FLOATS, p[s]), acc);
            }
            acc.intoArray(out, k);
        }
        for (; k < cols; k++) {
            float o = out[k];
            for (int s = 0; s < n; s++) {
                o += p[s] * w.getFloat(from + 4 * (s * cols + k));
            }
            out[k] = o;
        }
    }

    /** x[i] = exp(x[i] - shift) for i in [0, n), returning their sum (float32). */
    static float expShifted(float[] x, int n, float shift) {
        int lanes = FLOATS.length();
        int upper = n - n % lanes;
        FloatVector sum = FloatVector.zero(FLOATS);
        int i = 0;
        for (; i < upper; i += lanes) {
            FloatVector e = FloatVector.fromArray(FLOATS, x, i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, i);
            sum = sum.add(e);
        }
        float s = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - shift);
            s += x[i];
        }
        return s;
    }

    /** g[i] = g[i] / (1 + exp(-g[i])) (SiLU) for i in [0, n), float32. */
    static void silu(float[] g, int n) {
        int lanes = FLOATS.length();
        int upper = n - n % lanes;
        int i = 0;
        for (; i < upper; i += lanes) {
            FloatVector v = FloatVector.fromArray(FLOATS, g, i);
            v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(g, i);
        }
        for (; i < n; i++) {
            g[i] = g[i] / (1f + (float) Math.exp(-g[i]));
        }
    }

    /**
     * Runs every loop above on small buffers until the JIT's optimising compiler has them (before it, each vector
     * operation allocates; see {@link Bf16Mv}'s warm-up).
     */
    static void warmUp() {
        int cols = 70;
        ByteBuffer w = ByteBuffer.allocateDirect(4 * 16 * cols).order(ByteOrder.LITTLE_ENDIAN);
        float[] x = new float[cols];
        float[] y = new float[16];
        for (int i = 0; i < 20_000; i++) {
            rows(w, cols, x, y, 0, 16);
            accumulate(w, 0, cols, y, 16, x);
            expShifted(x, cols, 0f);
            silu(x, cols);
        }
    }
}
