package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The C row kernels against the vector-API kernels they stand in for. */
class NativeRowsTest {
    /** Shapes (rows, cols): column counts with and without a remainder for each loop's widths (32, 16, 8 ints). */
    private static final int[][] SHAPES = {{1, 2}, {3, 14}, {5, 30}, {7, 62}, {9, 64}, {4, 66}, {17, 576}, {6, 898}, {3, 4864},
            {8, 40}, {19, 902}};   // the last two: whole blocks of eight float32 rows, and rows and columns left over

    @AfterEach
    void widestLoopsAndOn() {
        NativeRows.useInstructionSet("avx512f");
        if (!"avx512f".equals(NativeRows.instructionSet())) {
            NativeRows.useInstructionSet("avx2");
        }
        NativeRows.enable(true);
    }

    @Test
    void theLibraryIsBuiltAndLoaded_whereTheBuildHadACompiler() {
        // the build compiles it wherever gcc is on the PATH (pom.xml, profile native-rows), as on this machine and CI
        // here; without gcc it would be missing, and the products would run on the vector-API kernels
        if (onPath("gcc") && System.getProperty("os.arch").equals("amd64")) {
            assertTrue(NativeRows.loaded(), "not loaded: " + NativeRows.loadError());
            assertTrue(NativeRows.enabled() || "0".equals(System.getenv("KEEL_NATIVE_ROWS")));
        } else {
            assertFalse(NativeRows.loaded());
            assertNotNull(NativeRows.loadError());
        }
    }

    @Test
    void picksTheWidestLoopThisCpuRuns() throws IOException {
        if (!NativeRows.loaded()) {
            assertEquals("none", NativeRows.instructionSet());
            assertFalse(NativeRows.useInstructionSet("c"));
            return;
        }
        String flags = cpuFlags();
        String expected = flags.contains(" avx512f ") ? "avx512f" : flags.contains(" avx2 ") && flags.contains(" fma ") ? "avx2" : "c";
        assertEquals(expected, NativeRows.instructionSet());
        assertTrue(NativeRows.useInstructionSet("c"));
        assertEquals("c", NativeRows.instructionSet());
        assertFalse(NativeRows.useInstructionSet("sse9"));
        assertEquals("c", NativeRows.instructionSet());
    }

    @Test
    void bfloat16RowsAreTheVectorApiKernels_inEveryLoopThisCpuRuns() {
        for (String isa : supported()) {
            assertTrue(NativeRows.useInstructionSet(isa));
            Random r = new Random(3);
            for (int[] shape : SHAPES) {
                int rows = shape[0];
                int cols = shape[1];
                int from = 4 * (1 + r.nextInt(5)); // W starts inside the buffer, as a tensor's slice does
                ByteBuffer w = gaussianBf16(r, from, rows * cols);
                float[] xe = gaussians(r, cols / 2);
                float[] xo = gaussians(r, cols / 2);
                float[] expected = new float[rows];
                Bf16MvKernel.rows(w, from, cols, xe, xo, expected, 0, rows);
                float[] got = new float[rows];
                NativeRows.rowsBf16(w, from, cols, xe, xo, got, 0, rows);
                assertClose(expected, got, cols, isa + " " + rows + " x " + cols);
            }
        }
    }

    @Test
    void float32RowsAreTheVectorApiKernels_inEveryLoopThisCpuRuns() {
        for (String isa : supported()) {
            assertTrue(NativeRows.useInstructionSet(isa));
            Random r = new Random(4);
            for (int[] shape : SHAPES) {
                int rows = shape[0];
                int cols = shape[1];
                int from = 4 * r.nextInt(5);
                ByteBuffer w = gaussianF32(r, from, rows * cols);
                float[] x = gaussians(r, cols);
                float[] expected = new float[rows];
                StepKernel.rows(w, from, cols, x, expected, 0, rows);
                float[] got = new float[rows];
                NativeRows.rowsF32(w, from, cols, x, got, 0, rows);
                assertClose(expected, got, cols, isa + " " + rows + " x " + cols);
            }
        }
    }

    @Test
    void writesOnlyItsRows_soTwoThreadsShareOneOutput() {
        int rows = 40;
        for (String isa : supported()) {
            assertTrue(NativeRows.useInstructionSet(isa));
            for (int cols : new int[] {96, 902}) {   // 902: columns left over after the vectors
                Random r = new Random(5);
                ByteBuffer w = gaussianF32(r, 0, rows * cols);
                float[] x = gaussians(r, cols);
                float[] whole = new float[rows];
                NativeRows.rowsF32(w, 0, cols, x, whole, 0, rows);
                float[] y = new float[rows];
                java.util.Arrays.fill(y, -7f);
                NativeRows.rowsF32(w, 0, cols, x, y, 10, 25);
                for (int i = 0; i < rows; i++) {
                    assertEquals(i >= 10 && i < 25 ? whole[i] : -7f, y[i], isa + ", " + cols + " columns, row " + i);
                }
                // the same bits however the rows are split, in blocks or one at a time
                sameBitsHoweverSplit(rows, (out, r0, r1) -> NativeRows.rowsF32(w, 0, cols, x, out, r0, r1),
                        isa + ", " + cols + " columns");
                ByteBuffer wb = gaussianBf16(r, 0, rows * cols);
                float[] xe = gaussians(r, cols / 2);
                float[] xo = gaussians(r, cols / 2);
                sameBitsHoweverSplit(rows, (out, r0, r1) -> NativeRows.rowsBf16(wb, 0, cols, xe, xo, out, r0, r1),
                        isa + ", bfloat16, " + cols + " columns");
            }
        }
    }

    @Test
    void biasAndRounding_asTheStepDidThemAfterTheSums_inCAndInJava() {
        Random r = new Random(8);
        int rows = 37;
        int cols = 66;
        ByteBuffer wb = direct(2 * rows * cols);
        ByteBuffer wf = direct(4 * rows * cols);
        for (int i = 0; i < rows * cols; i++) {
            short b = Bf16Mv.toBf16((float) r.nextGaussian());
            wb.putShort(2 * i, b);
            wf.putFloat(4 * i, Float.intBitsToFloat(b << 16));
        }
        float[] xe = gaussians(r, cols / 2);
        float[] xo = gaussians(r, cols / 2);
        float[] x = new float[cols];
        for (int k = 0; k < cols / 2; k++) {
            x[2 * k] = xe[k];
            x[2 * k + 1] = xo[k];
        }
        float[] bias = gaussians(r, rows + 9);
        for (boolean on : new boolean[] {true, false}) {   // C, then the Java kernels with the same finish
            NativeRows.enable(on);
            float[] sums = new float[rows];
            NativeRows.rowsBf16(wb, 0, cols, xe, xo, sums, 0, rows);
            float[] sums32 = new float[rows];
            NativeRows.rowsF32(wf, 0, cols, x, sums32, 0, rows);
            float[] y = new float[rows + 20];
            java.util.Arrays.fill(y, -7f);
            NativeRows.rowsBf16(wb, 0, cols, xe, xo, y, 11, bias, 9, true, 5, 30);
            float[] plain = new float[rows + 20];
            NativeRows.rowsBf16(wb, 0, cols, xe, xo, plain, 11, null, 0, true, 0, rows);
            float[] f32 = new float[rows];
            NativeRows.rowsF32(wf, 0, cols, x, f32, 0, bias, 2, false, 0, rows);
            for (int i = 0; i < rows + 20; i++) {
                int row = i - 11;
                float want = row >= 5 && row < 30 ? LlamaJvmStep.toBf16(sums[row] + bias[9 + row]) : -7f;
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y[i]), (on ? "C" : "Java") + ", y[" + i + "]");
                float wantPlain = row >= 0 && row < rows ? LlamaJvmStep.toBf16(sums[row]) : 0f;
                assertEquals(Float.floatToRawIntBits(wantPlain), Float.floatToRawIntBits(plain[i]), "no bias, y[" + i + "]");
            }
            for (int i = 0; i < rows; i++) {
                assertEquals(sums32[i] + bias[2 + i], f32[i], "float32 with a bias, unrounded, row " + i);
            }
        }
    }

    @Test
    void intoBfloat16Memory_theRoundedSumsPlusBias_onlyTheRowsAsked_inCAndInJava() {
        Random r = new Random(9);
        int rows = 4200;   // past the C code's stack buffers
        int cols = 34;
        ByteBuffer w = gaussianBf16(r, 0, rows * cols);
        float[] xe = gaussians(r, cols / 2);
        float[] xo = gaussians(r, cols / 2);
        float[] bias = gaussians(r, rows);
        for (boolean on : new boolean[] {true, false}) {
            NativeRows.enable(on);
            float[] sums = new float[rows];
            NativeRows.rowsBf16(w, 0, cols, xe, xo, sums, 0, rows);
            for (float[] b : new float[][] {null, bias}) {
                ByteBuffer y = direct(2 * rows);
                for (int i = 0; i < rows; i++) {
                    y.putShort(2 * i, (short) 0x1234);
                }
                NativeRows.rowsBf16To(w, 0, cols, xe, xo, y, b, 7, rows - 5);
                for (int i = 0; i < rows; i++) {
                    short want = i >= 7 && i < rows - 5 ? Bf16Mv.toBf16(b == null ? sums[i] : sums[i] + b[i]) : 0x1234;
                    assertEquals(want, y.getShort(2 * i), (on ? "C" : "Java") + (b == null ? "" : " with bias") + ", row " + i);
                }
            }
        }
        NativeRows.enable(true);
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16To(w, 0, cols, xe, xo, direct(2 * rows - 2), null, 0, rows));
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16To(w, 0, cols, xe, xo, direct(2 * rows), new float[rows - 1], 0, rows));
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16To(w, 0, cols, xe, xo, ByteBuffer.allocate(2 * rows), null, 0, rows));
    }

    @Test
    void roundsTiesToEvenAndNaNToTheQuietNaN_byHand() {
        // W = [[1, 0]] in bfloat16: the row's sum is x's first element exactly, then rounded to bfloat16
        ByteBuffer w = direct(4);
        w.putShort(0, Bf16Mv.toBf16(1f));
        float[] in = {1f + 0x1p-8f, 1f + 0x3p-9f, -(1f + 0x3p-8f), 0x1.fffffep127f, Float.NaN};
        float[] want = {1f, 1f + 0x1p-7f, -(1f + 0x1p-6f), Float.POSITIVE_INFINITY, Float.intBitsToFloat(0x7FC00000)};
        for (boolean on : new boolean[] {true, false}) {
            NativeRows.enable(on);
            for (int i = 0; i < in.length; i++) {
                float[] y = new float[1];
                NativeRows.rowsBf16(w, 0, 2, new float[] {in[i]}, new float[] {0f}, y, 0, null, 0, true, 0, 1);
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(y[0]), (on ? "C" : "Java") + ", " + in[i]);
            }
        }
    }

    @Test
    void refusesRowsPastTheBufferOrTheOutput_ratherThanReadingStrayMemory() {
        ByteBuffer w = direct(2 * 4 * 8);
        float[] half = new float[4];
        org.junit.jupiter.api.Assumptions.assumeTrue(NativeRows.loaded(), "no library (see the test above): " + NativeRows.loadError());
        NativeRows.rowsBf16(w, 0, 8, half, half, new float[4], 0, 4); // exactly the buffer
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.rowsBf16(w, 0, 8, half, half, new float[5], 0, 5));
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.rowsBf16(w, 2, 8, half, half, new float[4], 0, 4));
        assertThrows(IndexOutOfBoundsException.class, () -> NativeRows.rowsBf16(w, 0, 8, half, half, new float[2], 0, 4));
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsF32(ByteBuffer.allocate(64), 0, 4, new float[4], new float[4], 0, 4));
        assertThrows(IllegalArgumentException.class, () -> NativeRows.rowsF32(direct(64), 0, 4, new float[3], new float[4], 0, 4));
        // the output from yAt, and the bias from biasAt, must hold the rows too
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16(w, 0, 8, half, half, new float[5], 2, null, 0, true, 0, 4));
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16(w, 0, 8, half, half, new float[4], 0, new float[5], 2, true, 0, 4));
        assertThrows(IndexOutOfBoundsException.class,
                () -> NativeRows.rowsBf16(w, 0, 8, half, half, new float[4], -1, null, 0, true, 0, 3));
        NativeRows.rowsBf16(w, 0, 8, half, half, new float[6], 2, new float[6], 2, true, 0, 4);   // exactly both
    }

    @Test
    void switchedOff_theVectorApiKernelsRun() {
        assertTrue(NativeRows.enable(false) || !NativeRows.loaded());
        assertFalse(NativeRows.enabled());
        Random r = new Random(6);
        int rows = 5;
        int cols = 70;
        ByteBuffer w = gaussianF32(r, 0, rows * cols);
        float[] x = gaussians(r, cols);
        float[] expected = new float[rows];
        StepKernel.rows(w, 0, cols, x, expected, 0, rows);
        float[] got = new float[rows];
        NativeRows.rowsF32(w, 0, cols, x, got, 0, rows);
        assertArrayEquals(expected, got); // the same kernel: the same bits
    }

    /** Sums in another order: within a few float32 roundings of the sum of |terms| (here about sqrt(cols)). */
    private static void assertClose(float[] expected, float[] got, int cols, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], got[i], 1e-5 * cols, what + ", row " + i);
        }
    }

    /** Rows [r0, r1) of a product into out[r0 .. r1). */
    private interface RowRange {
        void run(float[] out, int r0, int r1);
    }

    /** The rows of a product give the same bits all at once, in two ranges (13 | rest) and one at a time. */
    private static void sameBitsHoweverSplit(int rows, RowRange product, String what) {
        float[] whole = new float[rows];
        product.run(whole, 0, rows);
        float[] halves = new float[rows];
        product.run(halves, 0, 13);
        product.run(halves, 13, rows);
        assertArrayEquals(whole, halves, what);
        float[] single = new float[rows];
        for (int i = 0; i < rows; i++) {
            product.run(single, i, i + 1);
        }
        assertArrayEquals(whole, single, what + ", one row at a time");
    }


    /** The loops this CPU runs; none where the library did not load (the test above says whether it must). */
    private static List<String> supported() {
        List<String> out = new ArrayList<>();
        if (!NativeRows.loaded()) {
            return out;
        }
        for (String isa : new String[] {"avx512f", "avx2", "c"}) {
            if (NativeRows.useInstructionSet(isa)) {
                out.add(isa);
            }
        }
        assertTrue(out.contains("c"), "the plain C loop runs everywhere the library loads: " + NativeRows.loadError());
        return out;
    }

    private static ByteBuffer direct(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** n float32 draws of r from byte {@code from} of a direct buffer (zeros before it). */
    private static ByteBuffer gaussianF32(Random r, int from, int n) {
        ByteBuffer w = direct(from + 4 * n);
        for (int i = 0; i < n; i++) {
            w.putFloat(from + 4 * i, (float) r.nextGaussian());
        }
        return w;
    }

    /** n draws of r rounded to bfloat16, from byte {@code from} of a direct buffer (zeros before it). */
    private static ByteBuffer gaussianBf16(Random r, int from, int n) {
        ByteBuffer w = direct(from + 2 * n);
        for (int i = 0; i < n; i++) {
            w.putShort(from + 2 * i, Bf16Mv.toBf16((float) r.nextGaussian()));
        }
        return w;
    }

    private static float[] gaussians(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    private static String cpuFlags() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) {
                return line.substring(line.indexOf(':') + 1) + " ";
            }
        }
        return " ";
    }
}
