package dev.keel.dist;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.tensor.Tensors;

/**
 * This process's place in a data-parallel run, on libtorch's own c10d: a {@code TCPStore} rendezvous hosted by
 * rank 0 and a Gloo process group over it (docs/SCALING.md). A single process ({@link #single()}) has the same
 * API and does no communication, so trainers call it unconditionally.
 *
 * <p>Failures never hang: every collective ends within the time-out; when one fails, the error names the rank
 * that stopped (its {@link Heartbeat} no longer moves) or says that all were alive but one was too slow.
 */
public final class Distributed implements AutoCloseable {
    /** Gradient bucket size: PyTorch DDP's default {@code bucket_cap_mb}. */
    static final long BUCKET_BYTES = 25L << 20;

    private final DistEnv env;
    private final int timeoutSeconds;
    private final TCPStore store;
    private final ProcessGroupGloo group;
    private final Heartbeat heartbeat;
    private long reduceNanos;

    private Distributed(DistEnv env, int timeoutSeconds, TCPStore store, ProcessGroupGloo group, Heartbeat heartbeat) {
        this.env = env;
        this.timeoutSeconds = timeoutSeconds;
        this.store = store;
        this.group = group;
        this.heartbeat = heartbeat;
    }

    /** A run of one process: every reduction returns its input. */
    public static Distributed single() {
        return new Distributed(DistEnv.single(), 0, null, null, null);
    }

    /** Joins the run torchrun's variables describe ({@link DistEnv#from}), or {@link #single()} without one. */
    public static Distributed fromEnvironment(int timeoutSeconds) {
        return join(DistEnv.from(System.getenv()), timeoutSeconds);
    }

    /**
     * Meets the other ranks at {@code env}'s store (rank 0 hosts it and waits for all) and opens a Gloo group.
     * Natives must be started. Fails within {@code timeoutSeconds} when a rank does not come, or at once when
     * rank 0's port is taken.
     */
    public static Distributed join(DistEnv env, int timeoutSeconds) {
        if (timeoutSeconds < 1) {
            throw new KeelException("--dist-timeout must be at least 1 second, got " + timeoutSeconds);
        }
        if (env.worldSize() == 1) {
            return single();
        }
        Milliseconds timeout = new Milliseconds(timeoutSeconds * 1000L);
        TCPStore store = store(env, timeout);
        ProcessGroupGloo.Options o = ProcessGroupGloo.Options.create(timeout);
        o.devices(new GlooDeviceVector(ProcessGroupGloo.createDeviceForHostname(env.masterAddr())));
        o.threads(2);
        ProcessGroupGloo group;
        try {
            group = new ProcessGroupGloo(store, env.rank(), env.worldSize(), o);
        } catch (RuntimeException e) {
            throw new KeelException("rank " + env.rank() + ": could not connect to the other ranks through "
                    + where(env) + " within --dist-timeout " + timeoutSeconds + " s: " + firstLine(e), e);
        }
        return new Distributed(env, timeoutSeconds, store, group, Heartbeat.start(store, env));
    }

    private static TCPStore store(DistEnv env, Milliseconds timeout) {
        TCPStoreOptions so = new TCPStoreOptions();
        so.port((short) env.masterPort());
        so.isServer(env.rank() == 0);
        so.numWorkers(new SizeTPointer(1).put(env.worldSize()));
        so.waitWorkers(true);
        so.timeout(timeout);
        try {
            return new TCPStore(env.masterAddr(), so);
        } catch (RuntimeException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("EADDRINUSE") || m.contains("address already in use")) {
                throw new KeelException("rank 0: MASTER_PORT " + env.masterPort() + " on " + env.masterAddr()
                        + " is already in use; choose another port (keel launch picks a free one)", e);
            }
            throw new KeelException("rank " + env.rank() + ": not all " + env.worldSize() + " ranks met at "
                    + where(env) + " within --dist-timeout " + (timeout.count() / 1000) + " s: " + firstLine(e), e);
        }
    }

    public int rank() {
        return env.rank();
    }

    /** Processes in the run. */
    public int size() {
        return env.worldSize();
    }

    /** Rank 0: the one process that writes metrics, checkpoints and the final model. */
    public boolean isMain() {
        return env.rank() == 0;
    }

    /**
     * This rank's contiguous share of {@code all}: elements [r·n/W, (r+1)·n/W). The shares of all ranks, in
     * rank order, are {@code all}; a share is empty when there are fewer elements than ranks.
     */
    public <T> List<T> shard(List<T> all) {
        return all.subList(shardStart(all.size()), shardStart(all.size(), rank() + 1));
    }

    /** Where this rank's {@link #shard} of {@code n} elements starts. */
    public int shardStart(int n) {
        return shardStart(n, rank());
    }

    private int shardStart(int n, int r) {
        return (int) ((long) r * n / size());
    }

    /** Element-wise sums of {@code values} over all ranks. */
    public double[] sum(double[] values) {
        return reduce(values, ReduceOp.RedOpType.SUM);
    }

    /** Element-wise minima over all ranks. */
    public double[] min(double[] values) {
        return reduce(values, ReduceOp.RedOpType.MIN);
    }

    /** Element-wise maxima over all ranks. */
    public double[] max(double[] values) {
        return reduce(values, ReduceOp.RedOpType.MAX);
    }

    private double[] reduce(double[] values, ReduceOp.RedOpType op) {
        if (group == null || values.length == 0) {
            return values.clone();
        }
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.empty(new long[] {values.length}, ScalarType.Double);
            new DoublePointer(t.data_ptr()).put(values, 0, values.length);
            allReduce(t, op, "a reduction of " + values.length + " values");
            double[] out = new double[values.length];
            new DoublePointer(t.data_ptr()).get(out, 0, out.length);
            return out;
        }
    }

    /**
     * Replaces every parameter's gradient by its sum over all ranks, through flat buckets of up to 25 MB (one
     * all-reduce each, as DDP's buckets). A parameter without a gradient counts as zeros and gets the sum.
     */
    public void sumGradients(Collection<Tensor> params) {
        if (group == null) {
            return;
        }
        List<Tensor> bucket = new ArrayList<>();
        long bytes = 0;
        for (Tensor p : params) {
            if (!bucket.isEmpty() && (bytes + p.nbytes() > BUCKET_BYTES || p.scalar_type() != bucket.get(0).scalar_type())) {
                sumBucket(bucket);
                bucket.clear();
                bytes = 0;
            }
            bucket.add(p);
            bytes += p.nbytes();
        }
        if (!bucket.isEmpty()) {
            sumBucket(bucket);
        }
    }

    private void sumBucket(List<Tensor> params) {
        try (PointerScope scope = new PointerScope()) {
            TensorVector parts = new TensorVector();
            for (Tensor p : params) {
                Tensor g = p.grad();
                parts.push_back(g.defined() ? g.reshape(-1) : torch.zeros_like(p).reshape(-1));
            }
            Tensor flat = torch.cat(parts);
            allReduce(flat, ReduceOp.RedOpType.SUM, "the gradient all-reduce");
            long off = 0;
            for (Tensor p : params) {
                Tensor summed = flat.narrow(0, off, p.numel()).view_as(p);
                if (p.grad().defined()) {
                    p.grad().copy_(summed);
                } else {
                    p.mutable_grad().put(summed.clone());
                }
                off += p.numel();
            }
        }
    }

    /** Waits until every rank has come here. */
    public void barrier() {
        if (group != null) {
            allReduce(Tensors.empty(new long[] {1}, ScalarType.Double).zero_(), ReduceOp.RedOpType.SUM, "a barrier");
        }
    }

    /** Seconds this process has spent in all-reduces so far (waiting for slower ranks included). */
    public double reduceSeconds() {
        return reduceNanos / 1e9;
    }

    private void allReduce(Tensor t, ReduceOp.RedOpType op, String what) {
        long t0 = System.nanoTime();
        try (AllreduceOptions o = new AllreduceOptions()) {
            o.reduceOp(new ReduceOp(op));
            group.allreduce(new TensorVector(t), o)._wait();
        } catch (RuntimeException e) {
            throw new KeelException("rank " + rank() + ": " + what + " failed: " + heartbeat.diagnose()
                    + " (" + firstLine(e) + ")", e);
        } finally {
            reduceNanos += System.nanoTime() - t0;
        }
    }

    private static String where(DistEnv env) {
        return "MASTER_ADDR:MASTER_PORT " + env.masterAddr() + ":" + env.masterPort();
    }

    static String firstLine(Throwable e) {
        return String.valueOf(e.getMessage()).lines().findFirst().orElse("").trim();
    }

    /** Stops the heartbeat; the process group and store go with the process. */
    @Override
    public void close() {
        if (heartbeat != null) {
            heartbeat.close();
        }
    }

    @Override
    public String toString() {
        return "rank " + rank() + " of " + size() + (timeoutSeconds > 0 ? " (time-out " + timeoutSeconds + " s)" : "");
    }
}
