package dev.keel.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The rows of a bfloat16 matrix times a float vector, in the JDK's vector API (jdk.incubator.vector). Loaded only
 * when the JVM resolved that module ({@link Bf16Mv#available()}), so no other class names these types.
 *
 * <p>A bfloat16 is the top half of a float32. The weights are read as ints, two bfloat16 values each (little
 * endian: element 2k in the low half, 2k+1 in the high one); {@code v << 16} is element 2k as a float and
 * {@code v & 0xFFFF0000} element 2k+1, so a row's dot product with x is two fused multiply-adds per int against x's
 * even and odd elements, which the caller separates once per product. One row streams at a time, with one
 * accumulator for the even and one for the odd elements: four rows at once read 12 against 21 GB/s on one core
 * here (docs/PERFORMANCE.md, item 24).
 */
final class Bf16MvKernel {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final int HIGH = 0xFFFF0000;

    private Bf16MvKernel() {}

    /** Width of the vectors the JIT uses here, in bits. */
    static int vectorBits() {
        return INTS.vectorBitSize();
    }

    /**
     * y[r] = sum over k of W[r, k] x[k] for rows r0 (inclusive) to r1, float32 sums.
     *
     * @param w    W (rows, cols) in bfloat16, row-major, little endian, from byte 0
     * @param cols even
     * @param xe   x[0], x[2], ... (cols / 2 values)
     * @param xo   x[1], x[3], ...
     */
    static void rows(ByteBuffer w, int cols, float[] xe, float[] xo, float[] y, int r0, int r1) {
        rows(w, 0, cols, xe, xo, y, r0, r1);
    }

    /** {@link #rows(ByteBuffer, int, float[], float[], float[], int, int)} with W from byte {@code from} of w. */
    static void rows(ByteBuffer w, int from, int cols, float[] xe, float[] xo, float[] y, int r0, int r1) {
        int half = cols / 2;
        int lanes = INTS.length();
        int upper = half - half % lanes;
        for (int r = r0; r < r1; r++) {
            int base = from + r * cols * 2;
            FloatVector even = FloatVector.zero(FLOATS);
            FloatVector odd = FloatVector.zero(FLOATS);
            int k = 0;
            for (; k < upper; k += lanes) {
                IntVector v = IntVector.fromByteBuffer(INTS, w, base + 4 * k, ByteOrder.LITTLE_ENDIAN);
                even = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(FLOATS, xe, k), even);
                odd = v.and(HIGH).reinterpretAsFloats().fma(FloatVector.fromArray(FLOATS, xo, k), odd);
            }
            float s = even.add(odd).reduceLanes(VectorOperators.ADD);
            for (; k < half; k++) {
                int bits = w.getInt(base + 4 * k);
                s += Float.intBitsToFloat(bits << 16) * xe[k] + Float.intBitsToFloat(bits & HIGH) * xo[k];
            }
            y[r] = s;
        }
    }

    /**
     * oe[k] += sum over rows s in [0, n) of p[s] W[s, 2k], oo[k] likewise with W[s, 2k + 1]: attention's weighted sum
     * of bfloat16 value rows (W (n, cols) from byte {@code from} of w), float32 sums.
     */
    static void accumulate(ByteBuffer w, int from, int cols, float[] p, int n, float[] oe, float[] oo) {
        int half = cols / 2;
        int lanes = INTS.length();
        int upper = half - half % lanes;
        int k = 0;
        for (; k < upper; k += lanes) {
            FloatVector even = FloatVector.fromArray(FLOATS, oe, k);
            FloatVector odd = FloatVector.fromArray(FLOATS, oo, k);
            for (int s = 0; s < n; s++) {
                IntVector v = IntVector.fromByteBuffer(INTS, w, from + s * cols * 2 + 4 * k, ByteOrder.LITTLE_ENDIAN);
                FloatVector ps = FloatVector.broadcast(FLOATS, p[s]);
                even = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(ps, even);
                odd = v.and(HIGH).reinterpretAsFloats().fma(ps, odd);
            }
            even.intoArray(oe, k);
            odd.intoArray(oo, k);
        }
        for (; k < half; k++) {
            float e = oe[k];
            float o = oo[k];
            for (int s = 0; s < n; s++) {
                int bits = w.getInt(from + s * cols * 2 + 4 * k);
                e += p[s] * Float.intBitsToFloat(bits << 16);
                o += p[s] * Float.intBitsToFloat(bits & HIGH);
            }
            oe[k] = e;
            oo[k] = o;
        }
    }
}
