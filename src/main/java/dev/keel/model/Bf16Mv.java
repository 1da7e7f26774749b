package dev.keel.model;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One row times a bfloat16 weight (batch-1 decoding with {@code --dtype bfloat16}), streamed as fast as the JVM reads
 * memory (37 GB/s on 2 cores here, where libtorch's sum reads 52-59):
 * y = W x (+ b) with float32 sums rounded once to bfloat16, as libtorch's bfloat16 {@code linear} rounds its float32
 * accumulator. libtorch's own routes for a single row are 2-4x slower than float32 {@code mv} on twice the bytes
 * (oneDNN's {@code linear}, {@code mm} and {@code mv} alike; docs/PERFORMANCE.md "What is left"); this one streams
 * the weight through {@link Bf16MvKernel} on the calling thread and {@code threads - 1} helpers.
 *
 * <p>Needs the JVM started with {@code --add-modules jdk.incubator.vector} (./keel does, and the test JVM) and
 * vectors of 256 bits or more; otherwise, with {@code KEEL_BF16_MV=0}, for a weight of 2 GiB or more, an odd
 * number of columns, or anything autograd has to see, {@link #applies} is false and the caller keeps libtorch's
 * product.
 */
final class Bf16Mv {
    /** Weights smaller than this (bytes) run on the calling thread alone: waking a helper costs more. */
    static final long SPLIT_BYTES = 256 * 1024;
    /**
     * Most threads a product is split between: the products are bound by memory, which a few cores' reads fill on
     * most machines, and more would only spin. Measured on 2 cores only (1 thread 21.5 GB/s, 2 threads 37).
     */
    static final int MAX_THREADS = 4;
    /**
     * How long an idle helper spins for the next product before it parks. With the Java kernels, parked at once or
     * after 20 us, SmolLM2-135M bfloat16 decoding ran 39-53 tokens/s; after 200 us, 1 ms or 2 ms, 48-64, alike within
     * the machine's noise. With the C kernels a token takes 6-7 ms, and the 0.3-0.4 ms between one token's head and
     * the next token's first product outlasted 200 us: the helper parked once a token, and woke 200 us late on average
     * (docs/PERFORMANCE.md, item 34). 1 ms spans that gap (in turns with 200 us, 20 generations each way, three
     * times: 152-156 against 145-154 decoded tokens/s); a generation's end parks the helpers at once
     * ({@link #parkHelpers}), so the spinning never outlasts decoding by more than this.
     */
    static final long SPIN_NANOS = 1_000_000;

    private static final boolean AVAILABLE = probe();
    private static volatile boolean enabled = AVAILABLE && !"0".equals(System.getenv("KEEL_BF16_MV"));
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);
    private static final ReentrantLock HELPERS_BUSY = new ReentrantLock();
    private static volatile Helper[] helpers = new Helper[0];
    private static final java.util.concurrent.atomic.AtomicLong PRODUCTS = new java.util.concurrent.atomic.AtomicLong();

    private Bf16Mv() {}

    private static boolean probe() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return false;
        }
        try {
            return Bf16MvKernel.vectorBits() >= 256;
        } catch (LinkageError e) {
            return false;
        }
    }

    /** Whether this JVM can run the kernel (the vector module resolved, vectors of 256 bits or more). */
    static boolean available() {
        return AVAILABLE;
    }

    /** Whether the kernel is on (available, and not switched off). */
    static boolean enabled() {
        return enabled;
    }

    /** Compiles the kernel before its first real product (once per process; see {@link WarmUp}). */
    static void warmUp() {
        WarmUp.ensure();
    }

    /** Number of products computed in this process, through {@link #mv} or {@link #split} (for tests). */
    static long products() {
        return PRODUCTS.get();
    }

    /** Switches the kernel on or off (tests; {@code KEEL_BF16_MV=0} starts it off); returns the previous setting. */
    static boolean enable(boolean on) {
        boolean was = enabled;
        enabled = on && AVAILABLE;
        return was;
    }

    /**
     * Whether a weight of {@code weight}'s dtype, laid out (out, in), would take {@link #mv} for {@code x}: the kernel
     * on, one bfloat16 row, a bfloat16 weight. For a caller that would have to make that layout first (GPT-2's
     * Conv1D weights are (in, out)); {@link #applies} decides on the weight made.
     */
    static boolean wouldApply(Tensor x, Tensor weight) {
        return enabled && x.numel() == x.size(-1) && x.scalar_type().intern() == ScalarType.BFloat16
                && weight.scalar_type().intern() == ScalarType.BFloat16;
    }

    /**
     * Whether {@link #mv} computes x W^T + b: x one row of bfloat16, W a 2-D contiguous bfloat16 weight on the CPU
     * with an even number of columns and under 2 GiB, a bias (if any) of W's rows, and nothing that needs gradients.
     */
    static boolean applies(Tensor x, Tensor weight, Tensor bias) {
        if (!wouldApply(x, weight) || weight.dim() != 2 || x.size(-1) != weight.size(1) || weight.size(1) % 2 != 0
                || weight.numel() * 2 >= Integer.MAX_VALUE || !weight.is_contiguous() || !weight.device().is_cpu()
                || !x.device().is_cpu()) {
            return false;
        }
        if (bias != null && (bias.numel() != weight.size(0) || !bias.device().is_cpu())) {
            return false;
        }
        return !GradMode.is_enabled() || !(x.requires_grad() || weight.requires_grad() || bias != null && bias.requires_grad());
    }

    /**
     * x W^T + b in x's shape with W's rows as its last dimension, bfloat16; {@link #applies} must hold. Each thread
     * rounds its rows and writes them into the output tensor itself.
     */
    static Tensor mv(Tensor x, Tensor weight, Tensor bias) {
        WarmUp.ensure();
        int rows = (int) weight.size(0);
        int cols = (int) weight.size(1);
        float[][] s = SCRATCH.get();
        if (s[0].length < cols / 2) {
            s[0] = new float[cols / 2];
            s[1] = new float[cols / 2];
        }
        float[] xe = s[0];
        float[] xo = s[1];
        // the buffers read the tensors' memory in place: each tensor stays reachable until its buffer is read, or
        // a tensor outside any PointerScope could be freed by the collector while its memory is being read
        Tensor xc = x.contiguous();
        ByteBuffer xb = bytes(xc, 2L * cols);
        for (int k = 0; k < cols / 2; k++) {
            int bits = xb.getInt(4 * k);
            xe[k] = Float.intBitsToFloat(bits << 16);
            xo[k] = Float.intBitsToFloat(bits & 0xFFFF0000);
        }
        Reference.reachabilityFence(xc);
        float[] b = bias == null ? null : dev.keel.tensor.Tensors.toFloats(bias.to(ScalarType.Float).contiguous());
        long[] shape = dev.keel.tensor.Tensors.shape(x);
        shape[shape.length - 1] = rows;
        Tensor out = torch.empty(shape, x.options(), new org.bytedeco.pytorch.MemoryFormatOptional());
        ByteBuffer w = bytes(weight, 2L * rows * cols);
        ByteBuffer ob = bytes(out, 2L * rows);
        split(rows, 2L * rows * cols, (r0, r1) -> NativeRows.rowsBf16To(w, 0, cols, xe, xo, ob, b, r0, r1));
        Reference.reachabilityFence(weight);
        Reference.reachabilityFence(out);
        return out;
    }

    /**
     * The bfloat16 nearest to f, ties to even, NaN to the quiet NaN 0x7FC0: c10::BFloat16's round_to_nearest_even.
     */
    static short toBf16(float f) {
        if (Float.isNaN(f)) {
            return (short) 0x7FC0;
        }
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * The first {@code n} bytes of {@code t}'s memory, little endian, read and written in place; the caller keeps
     * {@code t} reachable while it uses them.
     */
    static ByteBuffer bytes(Tensor t, long n) {
        return new BytePointer(t.data_ptr()).capacity(n).limit(n).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Rows [r0, r1) of a product: each range is given to one thread, and ranges do not overlap. */
    interface Rows {
        void run(int r0, int r1);
    }

    /**
     * {@code task} over rows [0, rows) split between the calling thread and its helpers, at most libtorch's thread
     * count for this thread and {@link #MAX_THREADS}; on the calling thread alone for fewer than {@link #SPLIT_BYTES}
     * bytes read, or while another caller has the helpers. Returns when every row is done.
     */
    static void split(int rows, long bytes, Rows task) {
        PRODUCTS.incrementAndGet();
        split(rows, bytes, task, SPIN_NANOS);
    }

    /**
     * As {@link #split(int, long, Rows)} for work that is not a product (not counted in {@link #products()}), after
     * which libtorch's threads run: the helpers park at once rather than spin on a core those threads need.
     */
    static void splitThenPark(int rows, long bytes, Rows task) {
        split(rows, bytes, task, 0);
    }

    /** As {@link #split(int, long, Rows)} with the helpers spinning {@code spinNanos} after it before they park. */
    static void split(int rows, long bytes, Rows task, long spinNanos) {
        int threads = Math.min(Math.min(torch.get_num_threads(), MAX_THREADS), rows);
        if (threads < 2 || bytes < SPLIT_BYTES || !HELPERS_BUSY.tryLock()) {
            task.run(0, rows);
            return;
        }
        try {
            Helper[] hs = helpers(threads - 1);
            for (int i = 0; i < hs.length; i++) {
                hs[i].post(task, (int) ((long) rows * (i + 1) / threads), (int) ((long) rows * (i + 2) / threads), spinNanos);
            }
            try {
                task.run(0, rows / threads);
            } finally {
                for (Helper h : hs) {     // never leave a helper on this product's buffers for the next caller
                    h.await();
                }
            }
        } finally {
            HELPERS_BUSY.unlock();
        }
    }

    /**
     * Parks every idle helper now rather than after its spin: for the end of a generation ({@link KvCache#close}),
     * after which libtorch's threads may need both cores (the next prompt's forward pass, a train step). A helper
     * busy with a product when asked parks as soon as it is done.
     */
    static void parkHelpers() {
        Helper[] hs = helpers;   // read without the lock: a helper started after this has not spun yet
        for (Helper h : hs) {
            h.parkNow = true;
        }
    }

    /** Number of helpers started, and of those parked (for tests). */
    static int[] helperStates() {
        Helper[] hs = helpers;
        int parked = 0;
        for (Helper h : hs) {
            parked += h.parked ? 1 : 0;
        }
        return new int[] {hs.length, parked};
    }

    /** The first n helpers, started as needed (HELPERS_BUSY held). */
    private static Helper[] helpers(int n) {
        if (helpers.length < n) {
            Helper[] more = java.util.Arrays.copyOf(helpers, n);
            for (int i = helpers.length; i < n; i++) {
                more[i] = new Helper();
                more[i].start();
            }
            helpers = more;
        }
        return n == helpers.length ? helpers : java.util.Arrays.copyOf(helpers, n);
    }

    /**
     * The kernel compiled before its first real product. Until the JIT's optimising compiler has compiled it, every
     * vector operation allocates: the first products of a Qwen2.5-0.5B-shape decoding (a 151,936-row head) made
     * 400 MB of garbage a second and the heap grew to 672 MB, and the process's peak 520 MB higher. 20,000 products
     * of 16 x 262 (262 columns leave a remainder after the vectors, so its loop is compiled too) took about 0.6 s in
     * a scratch harness with a heap under 40 MB; run once per process before the first product, they brought that
     * peak to 51 MB above libtorch's products' (docs/PERFORMANCE.md, item 24).
     */
    private static final class WarmUp {
        static {
            int rows = 16;
            int cols = 262;
            ByteBuffer w = ByteBuffer.allocateDirect(2 * rows * cols).order(ByteOrder.LITTLE_ENDIAN);
            float[] xe = new float[cols / 2];
            float[] xo = new float[cols / 2];
            float[] y = new float[rows];
            for (int i = 0; i < 20_000; i++) {
                Bf16MvKernel.rows(w, cols, xe, xo, y, 0, rows);
                Bf16MvKernel.accumulate(w, 0, cols, y, rows, xe, xo);   // attention's loop in LlamaJvmStep
            }
        }

        static void ensure() {
            // the class's initialisation above runs once, on the first call, and other callers wait for it
        }
    }

    /** A thread that runs the rows it is given, spinning for the next (as long as the last task asked) before it parks. */
    private static final class Helper extends Thread {
        private volatile long posted;
        private volatile long finished;
        private volatile boolean parked;
        /** Set by {@link #parkHelpers}: park at once instead of spinning on. */
        private volatile boolean parkNow;
        private volatile Throwable failure;
        private Rows task;
        private int r0;
        private int r1;
        private long spinNanos;

        Helper() {
            super("keel-bf16-mv");
            setDaemon(true);
        }

        void post(Rows task, int r0, int r1, long spinNanos) {
            this.task = task;
            this.r0 = r0;
            this.r1 = r1;
            this.spinNanos = spinNanos;
            posted = posted + 1;           // volatile write: the fields above are visible to the helper after it
            if (parked) {
                LockSupport.unpark(this);
            }
        }

        void await() {
            long target = posted;
            while (finished != target) {
                Thread.onSpinWait();
            }
            task = null;
            Throwable t = failure;
            if (t != null) {
                failure = null;
                throw new IllegalStateException("bfloat16 matrix-vector product failed: " + t, t);
            }
        }

        @Override
        public void run() {
            long seen = 0;
            long spin = SPIN_NANOS;
            while (true) {
                long since = System.nanoTime();
                int spins = 0;
                while (posted == seen) {
                    if (!parkNow && ((++spins & 63) != 0 || System.nanoTime() - since < spin)) {
                        Thread.onSpinWait();
                    } else {
                        parkNow = false;
                        parked = true;
                        if (posted == seen) {
                            LockSupport.park(this);
                        }
                        parked = false;
                    }
                }
                seen = posted;
                spin = spinNanos;
                try {
                    task.run(r0, r1);
                } catch (Throwable t) {
                    failure = t;
                }
                finished = seen;
            }
        }
    }
}
