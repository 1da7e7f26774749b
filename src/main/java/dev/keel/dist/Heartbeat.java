package dev.keel.dist;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.TCPStore;

/**
 * Each rank counts up a key of the rendezvous store twice a second from a thread of its own (over its own store
 * connection), so that when a collective fails the others can tell which rank stopped: the one whose count no
 * longer moves. A store that no longer answers means rank 0, its host, is gone.
 */
final class Heartbeat implements AutoCloseable {
    static final long PERIOD_MS = 500;
    private static final String KEY = "keel/heartbeat/";

    private final TCPStore store;
    private final DistEnv env;
    private final Thread thread;
    private volatile boolean running = true;

    private Heartbeat(TCPStore store, DistEnv env) {
        this.store = store;
        this.env = env;
        Store own = store.clone();
        this.thread = new Thread(() -> beat(own), "keel-heartbeat");
        thread.setDaemon(true);
    }

    static Heartbeat start(TCPStore store, DistEnv env) {
        Heartbeat h = new Heartbeat(store, env);
        h.thread.start();
        return h;
    }

    private void beat(Store own) {
        String key = KEY + env.rank();
        while (running) {
            try {
                own.add(key, 1);
                Thread.sleep(PERIOD_MS);
            } catch (InterruptedException | RuntimeException e) {
                return; // the store is gone (rank 0 ended) or the run is over: nothing left to signal
            }
        }
    }

    /**
     * Why a collective failed, as words for the error: the ranks whose heartbeat stopped over four periods, or
     * rank 0 when the store is unreachable, or that every rank is alive (so one is stuck or slower than the
     * time-out).
     */
    String diagnose() {
        try {
            long[] before = counts();
            Thread.sleep(4 * PERIOD_MS);
            long[] after = counts();
            List<String> dead = new ArrayList<>();
            for (int r = 0; r < before.length; r++) {
                if (r != env.rank() && after[r] == before[r]) {
                    dead.add(String.valueOf(r));
                }
            }
            return dead.isEmpty() ? "every rank is still alive, so one is stuck or slower than --dist-timeout"
                    : (dead.size() == 1 ? "rank " : "ranks ") + String.join(", ", dead) + " stopped (died or was killed)";
        } catch (RuntimeException e) {
            return "rank 0 stopped (died or was killed; it hosts the rendezvous store at " + env.masterAddr() + ":"
                    + env.masterPort() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while finding which rank stopped";
        }
    }

    private long[] counts() {
        long[] c = new long[env.worldSize()];
        for (int r = 0; r < c.length; r++) {
            c[r] = store.add(KEY + r, 0);
        }
        return c;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
