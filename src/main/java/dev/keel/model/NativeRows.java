package dev.keel.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The products of batch-1 decoding ({@link LlamaJvmStep}, {@link Bf16Mv}) in C: the rows of a bfloat16 or float32
 * weight times one vector, as {@link Bf16MvKernel#rows} and {@link StepKernel#rows} compute them in the JDK's vector
 * API, at the memory bandwidth C reaches. On the AMD EPYC of docs/PERFORMANCE.md (items 31-32) the JVM's loops read
 * 38-47 GB/s on two threads where the same loop in C read 57-72, and those reads are most of a decoded token.
 *
 * <p>The library ({@code src/main/c/keel_rows.c}) is built by Maven with the system's C compiler for Linux x86-64 and
 * packed in the jar; it picks its AVX-512 or AVX2 loop when it loads. Where it was not built (no C compiler at build
 * time, another platform), fails to load, or {@code KEEL_NATIVE_ROWS=0}, {@link #rowsBf16} and {@link #rowsF32} run
 * the vector-API kernels, which give the same sums up to float32 rounding order.
 */
final class NativeRows {
    /** Where the build puts the library in the jar. */
    static final String RESOURCE = "/dev/keel/native/linux-x86_64/libkeelrows.so";

    private static final String LOAD_ERROR;
    private static final boolean LOADED;
    private static volatile boolean enabled;

    static {
        String error = load();
        LOAD_ERROR = error;
        LOADED = error == null;
        enabled = LOADED && !"0".equals(System.getenv("KEEL_NATIVE_ROWS"));
    }

    private NativeRows() {}

    private static String load() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return "built for Linux x86-64 only, this is " + os + " " + arch;
        }
        try (InputStream in = NativeRows.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return "not in this build (" + RESOURCE + "; built where a C compiler is on the PATH)";
            }
            // a file of this process's own, deleted once loaded (the mapping outlives it), so none is left behind
            Path file = Files.createTempFile("keel-rows-", ".so");
            try {
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                System.load(file.toAbsolutePath().toString());
            } finally {
                Files.deleteIfExists(file);
            }
            isa(); // links the natives now, so a broken library is found here
            return null;
        } catch (IOException | UnsatisfiedLinkError | SecurityException e) {
            return e.toString();
        }
    }

    /** Whether the library loaded (built, on this platform). */
    static boolean loaded() {
        return LOADED;
    }

    /** Why the library did not load, or null when it did. */
    static String loadError() {
        return LOAD_ERROR;
    }

    /** Whether the products run in C: loaded and not switched off. */
    static boolean enabled() {
        return enabled;
    }

    /** Switches the C products on or off (tests; {@code KEEL_NATIVE_ROWS=0} starts them off); returns the previous. */
    static boolean enable(boolean on) {
        boolean was = enabled;
        enabled = on && LOADED;
        return was;
    }

    /** The loop the library runs on this CPU: "avx512f", "avx2" or "c"; "none" when it is not loaded. */
    static String instructionSet() {
        return LOADED ? isa() : "none";
    }

    /**
     * y[r] = sum over k of W[r, k] x[k] for rows r0 (inclusive) to r1, W (rows, cols) bfloat16 from byte {@code from}
     * of {@code w}, x given as its even ({@code xe}) and odd ({@code xo}) elements; as {@link Bf16MvKernel#rows}.
     */
    static void rowsBf16(ByteBuffer w, int from, int cols, float[] xe, float[] xo, float[] y, int r0, int r1) {
        rowsBf16(w, from, cols, xe, xo, y, 0, null, 0, false, r0, r1);
    }

    /**
     * As {@link #rowsBf16(ByteBuffer, int, int, float[], float[], float[], int, int)} with each row's sum plus
     * {@code bias[biasAt + r]} (bias null: none), rounded to bfloat16 when {@code round} (ties to even, as
     * {@link Bf16Mv#toBf16}), written to {@code y[yAt + r]}: a product's whole output for the rows asked, in the
     * thread that computed them.
     */
    static void rowsBf16(ByteBuffer w, int from, int cols, float[] xe, float[] xo, float[] y, int yAt, float[] bias,
            int biasAt, boolean round, int r0, int r1) {
        check(w, from, 2L * cols, r1, y, yAt, bias, biasAt, r0);
        if (cols % 2 != 0 || xe.length < cols / 2 || xo.length < cols / 2) {
            throw new IllegalArgumentException("bfloat16 rows: " + cols + " columns, x halves of " + xe.length + " and " + xo.length);
        }
        if (!enabled) {
            float[] t = scratch(r1);
            Bf16MvKernel.rows(w, from, cols, xe, xo, t, r0, r1);
            finish(t, y, yAt, bias, biasAt, round, r0, r1);
            return;
        }
        bf16(w, from, cols, xe, xo, y, yAt, bias, biasAt, round, r0, r1);
    }

    /**
     * As {@link #rowsBf16(ByteBuffer, int, int, float[], float[], float[], int, int)} with each row's sum plus
     * {@code bias[r]} (bias null: none) rounded to bfloat16 and stored at element r of {@code y}, a direct buffer of
     * bfloat16 (a tensor's memory): a one-row product's whole output, for the rows asked.
     */
    static void rowsBf16To(ByteBuffer w, int from, int cols, float[] xe, float[] xo, ByteBuffer y, float[] bias, int r0,
            int r1) {
        if (!y.isDirect() || 2L * r1 > y.capacity()) {
            throw new IndexOutOfBoundsException("rows " + r0 + "-" + r1 + " into a buffer of " + y.capacity() + " bytes"
                    + (y.isDirect() ? "" : " (not direct)"));
        }
        checkRows(w, from, 2L * cols, r0, r1);
        checkBias(bias, 0, r0, r1);
        if (cols % 2 != 0 || xe.length < cols / 2 || xo.length < cols / 2) {
            throw new IllegalArgumentException("bfloat16 rows: " + cols + " columns, x halves of " + xe.length + " and " + xo.length);
        }
        if (!enabled) {
            float[] t = scratch(r1);
            Bf16MvKernel.rows(w, from, cols, xe, xo, t, r0, r1);
            for (int r = r0; r < r1; r++) {
                y.putShort(2 * r, Bf16Mv.toBf16(bias == null ? t[r] : t[r] + bias[r]));
            }
            return;
        }
        bf16Out(w, from, cols, xe, xo, y, bias, r0, r1);
    }

    /** As {@link #rowsBf16} with a float32 W and x whole; as {@link StepKernel#rows}. */
    static void rowsF32(ByteBuffer w, int from, int cols, float[] x, float[] y, int r0, int r1) {
        rowsF32(w, from, cols, x, y, 0, null, 0, false, r0, r1);
    }

    /** As {@link #rowsBf16(ByteBuffer, int, int, float[], float[], float[], int, float[], int, boolean, int, int)}. */
    static void rowsF32(ByteBuffer w, int from, int cols, float[] x, float[] y, int yAt, float[] bias, int biasAt,
            boolean round, int r0, int r1) {
        check(w, from, 4L * cols, r1, y, yAt, bias, biasAt, r0);
        if (x.length < cols) {
            throw new IllegalArgumentException("float32 rows: " + cols + " columns, x of " + x.length);
        }
        if (!enabled) {
            float[] t = scratch(r1);
            StepKernel.rows(w, from, cols, x, t, r0, r1);
            finish(t, y, yAt, bias, biasAt, round, r0, r1);
            return;
        }
        f32(w, from, cols, x, y, yAt, bias, biasAt, round, r0, r1);
    }

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

    /** This thread's buffer of at least n floats, for the Java kernels' sums. */
    private static float[] scratch(int n) {
        float[][] s = SCRATCH.get();
        if (s[0].length < n) {
            s[0] = new float[n];
        }
        return s[0];
    }

    /** y[yAt + r] = sums[r] (+ bias[biasAt + r]), rounded when asked, for r in [r0, r1): what the C code does after its sums. */
    private static void finish(float[] sums, float[] y, int yAt, float[] bias, int biasAt, boolean round, int r0, int r1) {
        for (int r = r0; r < r1; r++) {
            float v = bias == null ? sums[r] : sums[r] + bias[biasAt + r];
            y[yAt + r] = round ? LlamaJvmStep.toBf16(v) : v;
        }
    }

    /** C reads what it is given: the rows must lie inside the buffer, and y (from yAt) and the bias must hold them. */
    private static void check(ByteBuffer w, int from, long rowBytes, int r1, float[] y, int yAt, float[] bias, int biasAt,
            int r0) {
        checkRows(w, from, rowBytes, r0, r1);
        if (yAt < 0 || (long) yAt + r1 > y.length) {
            throw new IndexOutOfBoundsException("rows " + r0 + "-" + r1 + " into y of " + y.length + " from " + yAt);
        }
        checkBias(bias, biasAt, r0, r1);
    }

    /** Rows r0 to r1 of {@code rowBytes} each, from byte {@code from}, lie inside direct buffer w. */
    private static void checkRows(ByteBuffer w, int from, long rowBytes, int r0, int r1) {
        if (!w.isDirect() || from < 0 || r0 < 0 || r0 > r1 || from + rowBytes * r1 > w.capacity()) {
            throw new IndexOutOfBoundsException("rows " + r0 + "-" + r1 + " of " + rowBytes + " bytes from byte " + from
                    + " of a buffer of " + w.capacity() + (w.isDirect() ? "" : " (not direct)"));
        }
    }

    private static void checkBias(float[] bias, int biasAt, int r0, int r1) {
        if (bias != null && (biasAt < 0 || (long) biasAt + r1 > bias.length)) {
            throw new IndexOutOfBoundsException("rows " + r0 + "-" + r1 + " of a bias of " + bias.length + " from " + biasAt);
        }
    }

    /**
     * Switches the library to the loops named ("avx512f", "avx2" or "c"; tests run each against the vector-API
     * kernels); false when this CPU does not run them or the library is not loaded. Not for use while products run.
     */
    static boolean useInstructionSet(String name) {
        return LOADED && use(name);
    }

    /**
     * out[r] = the index of row r's largest value, as libtorch's {@code argmax(-1)} picks it (the first of equal values,
     * the first NaN above every number), for x (rows, cols) float32 or bfloat16 from the start of direct buffer
     * {@code x}. For the library only: callers check {@link #loaded()} first.
     */
    static void argmaxRows(ByteBuffer x, int rows, int cols, boolean bf16, long[] out) {
        if (!x.isDirect() || rows < 0 || cols < 1 || (long) rows * cols * (bf16 ? 2 : 4) > x.capacity() || out.length < rows) {
            throw new IndexOutOfBoundsException("argmax of " + rows + " x " + cols + (bf16 ? " bfloat16" : " float32")
                    + " in a buffer of " + x.capacity() + (x.isDirect() ? "" : " (not direct)") + ", out of " + out.length);
        }
        argmax(x, rows, cols, bf16, out);
    }

    private static native void argmax(ByteBuffer x, int rows, int cols, boolean bf16, long[] out);

    private static native void bf16(ByteBuffer w, long from, int cols, float[] xe, float[] xo, float[] y, int yAt,
            float[] bias, int biasAt, boolean round, int r0, int r1);

    private static native void bf16Out(ByteBuffer w, long from, int cols, float[] xe, float[] xo, ByteBuffer y,
            float[] bias, int r0, int r1);

    private static native void f32(ByteBuffer w, long from, int cols, float[] x, float[] y, int yAt, float[] bias,
            int biasAt, boolean round, int r0, int r1);

    private static native String isa();

    private static native boolean use(String name);
}
