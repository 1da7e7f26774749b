package dev.keel.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.runtime.BlasThreads;

/**
 * Keys and values of the tokens seen so far, per layer, shape (B, n_kv_heads, S, head_dim). A forward pass
 * with a cache attends over the cached tokens plus its own and appends its own.
 *
 * <p>Each layer's keys and values live in a buffer with room for {@code capacity} positions; a step writes its
 * new columns in place and attention reads a view of the filled part. Concatenating instead would copy the
 * whole cache at every step (8 copies per step for 4 layers); the buffer grows, by doubling, only when full.
 *
 * <p>The cache owns its tensors: each buffer gets a native reference of its own, so it survives the
 * {@code PointerScope} of the step that made it, and is released when replaced or on {@link #close()}. Use
 * one scope per step and the cache across steps.
 */
public final class KvCache implements AutoCloseable {
    private final Tensor[] keys;
    private final Tensor[] values;
    private final long[] filled;
    private final long capacity;
    /** Copies derived from the weights: this cache's own, or shared with the other parts of a generation. */
    private final DecodingCopies derived;
    private final boolean ownsDerived;
    /** State of this generation kept on the JVM's side (e.g. {@link LlamaJvmStep}), by key; made on first use. */
    private final java.util.Map<Object, Object> attached = new java.util.HashMap<>();
    /** OpenBLAS made single-threaded by {@link #singleThreadedBlas()}, given back on close; null before. */
    private BlasThreads.Single blas;

    /** A cache that starts with room for {@code capacity} positions (prompt + new tokens) and grows if needed. */
    public KvCache(int numLayers, long capacity) {
        this(numLayers, capacity, null);
    }

    /**
     * A cache whose copies derived from the weights ({@link #derived}) live in {@code shared}, which the caller
     * closes, when the generation runs in parts (lanes) that use the same weights; null: copies of its own.
     */
    public KvCache(int numLayers, long capacity, DecodingCopies shared) {
        this.derived = shared != null ? shared : new DecodingCopies();
        this.ownsDerived = shared == null;
        keys = new Tensor[numLayers];
        values = new Tensor[numLayers];
        filled = new long[numLayers];
        this.capacity = Math.max(1, capacity);
    }

    public KvCache(int numLayers) {
        this(numLayers, 256);
    }

    /**
     * A tensor derived from the model's weights for this generation only (e.g. the q, k and v projections
     * stacked into one), made by {@code make} on first use and kept, like the buffers, until {@link #close()}.
     * Weights change between generations in RL training, so nothing derived outlives the cache. A null from
     * {@code make} (nothing to derive) is kept too, and returned without calling {@code make} again.
     */
    public Tensor derived(String key, java.util.function.Supplier<Tensor> make) {
        return derived.get(key, make);
    }

    /**
     * This generation's object under {@code key}, made by {@code make} on first use and kept until {@link #close()};
     * like {@link #derived}, for what is made from the weights of one generation only.
     */
    @SuppressWarnings("unchecked")
    <T> T attached(Object key, java.util.function.Supplier<T> make) {
        return (T) attached.computeIfAbsent(key, k -> make.get());
    }

    /** This generation's object under {@code key}, or null when none was made. */
    Object attached(Object key) {
        return attached.get(key);
    }

    /** Number of cached positions of {@code layer}. */
    long filled(int layer) {
        return filled[layer];
    }

    /**
     * The buffers (keys, values) of {@code layer}, (B, n_kv_heads, capacity, head_dim) and contiguous, with room for
     * {@code t} more positions after the cached ones (grown if needed), for a step that writes its keys and values
     * into them itself and then calls {@link #advance}; the layer must hold positions already.
     */
    Tensor[] room(int layer, long t) {
        if (keys[layer] == null) {
            throw new IllegalStateException("layer " + layer + " of the cache holds no positions yet");
        }
        reserve(layer, filled[layer] + t, keys[layer], values[layer]);
        return new Tensor[] {keys[layer], values[layer]};
    }

    /**
     * Room for {@code need} positions in the buffers of {@code layer}: made like {@code k} and {@code v} with the
     * cache's capacity when there are none, doubled (or to {@code need}) when full, the cached positions kept.
     */
    private void reserve(int layer, long need, Tensor k, Tensor v) {
        if (keys[layer] == null || need > keys[layer].size(2)) {
            long cap = keys[layer] == null ? Math.max(capacity, need) : Math.max(2 * keys[layer].size(2), need);
            keys[layer] = own(grow(keys[layer], k, cap, filled[layer]), keys[layer]);
            values[layer] = own(grow(values[layer], v, cap, filled[layer]), values[layer]);
        }
    }

    /** Counts {@code t} positions written into {@link #room}'s buffers of {@code layer} as cached. */
    void advance(int layer, long t) {
        filled[layer] += t;
    }

    /**
     * Makes OpenBLAS single-threaded until {@link #close()}: for a generation whose products run on packed weights
     * ({@link Prepacked}) on libtorch's threads, where OpenBLAS is left with the attention's small products and its
     * idle worker, spinning between them, takes a core from libtorch's threads (as under bf16, {@link BlasThreads}).
     */
    void singleThreadedBlas() {
        if (blas == null) {
            blas = BlasThreads.single();
        }
    }

    /** Number of cached positions (0 when empty). */
    public long length() {
        return filled[0];
    }

    /** Appends this step's keys and values of {@code layer} and returns all of them (cached + new), as views. */
    public Tensor[] append(int layer, Tensor k, Tensor v) {
        long t = k.size(2);
        long need = filled[layer] + t;
        reserve(layer, need, k, v);
        keys[layer].narrow(2, filled[layer], t).copy_(k);
        values[layer].narrow(2, filled[layer], t).copy_(v);
        filled[layer] = need;
        return new Tensor[] {keys[layer].narrow(2, 0, need), values[layer].narrow(2, 0, need)};
    }

    /** A buffer like {@code like} with {@code cap} positions, holding the first {@code keep} of {@code old}. */
    private static Tensor grow(Tensor old, Tensor like, long cap, long keep) {
        Tensor b = torch.zeros(new long[] {like.size(0), like.size(1), cap, like.size(3)}, like.options());
        if (old != null && keep > 0) {
            b.narrow(2, 0, keep).copy_(old.narrow(2, 0, keep));
        }
        return b;
    }

    /** Keeps only the batch rows in {@code index} (a 1-D int64 tensor), e.g. to drop finished sequences. */
    public void select(Tensor index) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i] = own(keys[i].index_select(0, index), keys[i]);
                values[i] = own(values[i].index_select(0, index), values[i]);
            }
        }
    }

    private static Tensor own(Tensor fresh, Tensor replaced) {
        fresh.retainReference();
        if (replaced != null) {
            replaced.releaseReference();
        }
        return fresh;
    }

    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].releaseReference();
                values[i].releaseReference();
            }
            keys[i] = null;
            values[i] = null;
            filled[i] = 0;
        }
        Bf16Mv.parkHelpers();   // the products' helpers need not spin past the generation
        attached.clear();
        if (ownsDerived) {
            derived.close();
        }
        if (blas != null) {
            blas.close();
            blas = null;
        }
    }
}
