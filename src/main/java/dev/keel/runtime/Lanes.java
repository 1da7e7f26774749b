package dev.keel.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import java.util.function.Supplier;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;

/**
 * Independent pieces of one step run side by side, one per core, each single-threaded: the two halves of a
 * batch, each half's forward and backward on a core of its own; the two halves of an RL rollout's sampling; a
 * rollout's scoring passes over the two halves of its rows. At small shapes one op is too short for two threads to share
 * well (a PPO update ran 1.36x faster on two threads than on one, not 2x); two pieces on a core each waste less
 * on the hand-over. Measured at the bench's tiny shape, one process alternating, 4 rounds: SFT step 4,450 to
 * 5,400 tok/s, DPO step 5,040 to 6,300, a PPO iteration 2.85 to 2.3 s (docs/PERFORMANCE.md).
 *
 * <p>Each lane is a thread of its own whose libtorch intra-op (OpenMP) thread count is 1 (an OpenMP setting of
 * the calling thread; the caller's stays as it was), and OpenBLAS is single-threaded while lanes run (its
 * thread count is global). Pieces run in the caller's gradient mode (a thread's own in libtorch). Autograd accumulates into a leaf's gradient under a lock, and two lanes' gradients
 * add in either order to the same float, so the result does not depend on which lane ends first.
 *
 * <p>Off (every piece runs in turn on the caller's thread) with one thread, on glibc's malloc, or with
 * {@code KEEL_LANES=0}.
 */
public final class Lanes {
    private static ExecutorService pool;
    private static int lanes;
    private static int forced;
    private static final ThreadLocal<Boolean> IN_LANE = ThreadLocal.withInitial(() -> false);

    private Lanes() {}

    /** How many lanes {@link #run} uses: the intra-op thread count (at most 2), 1 when off. */
    public static synchronized int count() {
        if (forced > 0) {
            return forced;
        }
        if (lanes == 0) {
            String v = System.getenv("KEEL_LANES");
            boolean off = v != null && v.trim().equals("0") || !threadCachingMalloc();
            lanes = off ? 1 : Math.min(2, Math.max(1, torch.get_num_threads()));
        }
        return lanes;
    }

    /**
     * Whether the process allocates through tcmalloc or jemalloc (./keel preloads tcmalloc when installed). On glibc's
     * malloc each lane thread gets an arena of its own, and over 1,000 SFT steps at batch 2 (SftTrainingTest's memory
     * probe) the resident size moved between +3% and +13% with lanes where it stayed flat (+0.3%) without them.
     */
    private static boolean threadCachingMalloc() {
        try {
            return !Proc.mallocName(Proc.mappedFiles()).equals("glibc");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /**
     * Uses {@code n} lanes (1 or 2) until the returned handle closes, whatever the thread count: for tests and
     * benches that compare the two ways on one machine.
     */
    public static synchronized AutoCloseable use(int n) {
        if (n < 1 || n > 2) {
            throw new IllegalArgumentException("lanes: 1 or 2, got " + n);
        }
        int before = forced;
        forced = n;
        return () -> {
            synchronized (Lanes.class) {
                forced = before;
            }
        };
    }

    /**
     * Runs the pieces, each on a lane of its own when there are lanes, and returns their results in order. A
     * piece that throws makes this throw the same exception once every piece has ended.
     */
    public static <T> List<T> run(List<Callable<T>> pieces) {
        if (count() < 2 || pieces.size() < 2 || IN_LANE.get()) { // a lane's own pieces run in it, in turn
            List<T> out = new ArrayList<>();
            for (Callable<T> p : pieces) {
                out.add(call(p));
            }
            return out;
        }
        ExecutorService ex = pool();
        try (BlasThreads.Single blas = BlasThreads.single()) {
            // gradient mode is a thread's own: the pieces run in the caller's (e.g. scoring passes without graphs)
            boolean grad = GradMode.is_enabled();
            List<Future<T>> fs = new ArrayList<>();
            for (Callable<T> p : pieces) {
                fs.add(ex.submit(() -> {
                    boolean before = GradMode.is_enabled();
                    GradMode.set_enabled(grad);
                    try (PointerScope scope = new PointerScope()) { // what a piece makes and drops is freed here
                        return p.call();
                    } finally {
                        GradMode.set_enabled(before);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            RuntimeException failed = null;
            for (Future<T> f : fs) {
                try {
                    out.add(f.get());
                } catch (ExecutionException e) {
                    if (failed == null) {
                        failed = e.getCause() instanceof RuntimeException re ? re : new KeelException(e.getCause().toString());
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new KeelException("interrupted");
                }
            }
            if (failed != null) {
                throw failed;
            }
            return out;
        }
    }

    /**
     * As {@link #run}, for pieces that each make tensors (e.g. one lane's passes of several models, in turn): the
     * tensors outlive their lanes and belong to the caller's innermost {@code PointerScope} (or, without one, to the
     * garbage collector), as if the caller had made them.
     */
    public static List<List<Tensor>> tensors(List<Supplier<List<Tensor>>> pieces) {
        List<Callable<List<Tensor>>> kept = new ArrayList<>();
        for (Supplier<List<Tensor>> p : pieces) {
            kept.add(() -> {
                List<Tensor> ts = p.get();
                ts.forEach(Tensor::retainReference); // survive the lane's scope
                return ts;
            });
        }
        List<List<Tensor>> out = run(kept);
        PointerScope caller = PointerScope.getInnerScope();
        for (List<Tensor> ts : out) {
            for (Tensor t : ts) {
                if (caller != null) {
                    caller.attach(t);
                    t.releaseReference();
                }
            }
        }
        return out;
    }

    /** {@code items} in two halves for two lanes: the first (n + 1) / 2, then the rest (views, in order). */
    public static <T> List<List<T>> halves(List<T> items) {
        int half = (items.size() + 1) / 2;
        return List.of(items.subList(0, half), items.subList(half, items.size()));
    }

    private static <T> T call(Callable<T> p) {
        try {
            return p.call();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new KeelException(e.toString());
        }
    }

    private static synchronized ExecutorService pool() {
        if (pool == null) {
            int threads = torch.get_num_threads();
            pool = Executors.newFixedThreadPool(2, r -> {
                Thread t = new Thread(() -> {
                    // this thread's OpenMP teams: one thread. libtorch sets a thread's count from its global one
                    // on the thread's first query, so query first, or the global count restored below would win
                    torch.get_num_threads();
                    torch.set_num_threads(1);
                    IN_LANE.set(true);
                    r.run();
                }, "keel-lane");
                t.setDaemon(true);
                return t;
            });
            // start the threads now, then give the global setting back (the caller's own is unchanged)
            List<Future<?>> warm = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                warm.add(pool.submit(() -> { }));
            }
            for (Future<?> f : warm) {
                try {
                    f.get();
                } catch (InterruptedException | ExecutionException e) {
                    throw new KeelException("could not start the lanes: " + e);
                }
            }
            torch.set_num_threads(threads);
        }
        return pool;
    }
}
