package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/** The greedy pick in C against values worked out by hand and against libtorch's argmax. */
class ArgmaxTest {
    private static final float NAN = Float.NaN;
    private static final float INF = Float.POSITIVE_INFINITY;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theLibraryIsHere_soTheCPickIsWhatTheseTestsRun() {
        // NativeRowsTest checks the library is built where gcc is; without it every test below would pass on null
        assertTrue(NativeRows.enabled(), "not loaded or switched off: " + NativeRows.loadError());
    }

    @Test
    void picksTheFirstLargest_andTheFirstNaNAboveEveryNumber_byHand() {
        float[][] rows = {
            {1f, 3f, 3f, 2f},          // tie: the first
            {-2f, -1f, -0f, 0f},       // -0 and +0 are equal: the first
            {-INF, -INF, -INF, -INF},  // all equal: 0
            {5f, NAN, 7f, NAN},        // a NaN is above every number: the first NaN
            {NAN, 1f, NAN, INF},       // at 0
            {-1f, -3f, INF, 2f},
            {0.5f, 0.25f, 0.125f, 1e-3f},
        };
        long[] expected = {1, 2, 0, 1, 0, 2, 0};
        for (ScalarType dtype : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {   // each value is a bfloat16
            try (PointerScope scope = new PointerScope()) {
                Tensor t = matrix(rows).to(dtype);
                assertArrayEquals(expected, Argmax.rows(t), dtype.toString());
                assertArrayEquals(expected, Tensors.toLongs(t.to(ScalarType.Float).argmax(new LongOptional(-1), false)),
                        "libtorch agrees, " + dtype);
            }
        }
    }

    @Test
    void agreesWithLibtorch_onRandomRowsWithTiesAndNaNs() {
        Random r = new Random(5);
        int[][] shapes = {{1, 1}, {1, 2}, {3, 17}, {2, 49_152}, {4, 1000}, {1, 151_936}};
        for (int[] shape : shapes) {
            float[][] v = new float[shape[0]][shape[1]];
            for (float[] row : v) {
                for (int j = 0; j < row.length; j++) {
                    // a few distinct values, so the largest is often tied; now and then a NaN or an infinity
                    double u = r.nextDouble();
                    row[j] = u < 0.001 ? NAN : u < 0.002 ? -INF : r.nextInt(40) * 0.25f - 5f;
                }
            }
            for (ScalarType dtype : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
                try (PointerScope scope = new PointerScope()) {
                    Tensor t = matrix(v).to(dtype);
                    long[] want = Tensors.toLongs(t.to(ScalarType.Float).argmax(new LongOptional(-1), false));
                    assertArrayEquals(want, Argmax.rows(t), shape[0] + " x " + shape[1] + " " + dtype);
                }
            }
        }
    }

    @Test
    void leavesToLibtorchWhatItDoesNotRead() {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = torch.randn(4, 6);
            assertNull(Argmax.rows(t.t()), "not contiguous");
            assertNull(Argmax.rows(t.to(ScalarType.Double)), "float64");
            assertNull(Argmax.rows(t.to(ScalarType.Half)), "float16");
            assertNull(Argmax.rows(t.view(24)), "one dimension");
            assertNull(Argmax.rows(t.view(2, 2, 6)), "three dimensions");
            assertNull(Argmax.rows(torch.randn(3, 0)), "no columns");
            assertNull(Argmax.rows(t.clone().requires_grad_(true)), "needs gradients");
        }
    }

    private static Tensor matrix(float[][] rows) {
        int cols = rows[0].length;
        float[] flat = new float[rows.length * cols];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i], 0, flat, i * cols, cols);
        }
        return Tensors.floats(flat, rows.length, cols);
    }

    @Test
    void refusesRowsPastTheBuffer_ratherThanReadingStrayMemory() {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * 10).order(ByteOrder.LITTLE_ENDIAN);
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.argmaxRows(b, 3, 4, false, new long[3]));
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.argmaxRows(b, 2, 4, false, new long[1]));
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.argmaxRows(ByteBuffer.allocate(40), 2, 4, false, new long[2]));
        long[] out = new long[2];
        NativeRows.argmaxRows(b, 2, 10, true, out);   // 2 x 10 bfloat16 fill the 40 bytes
        assertArrayEquals(new long[] {0, 0}, out);    // zeros: all equal
    }
}
