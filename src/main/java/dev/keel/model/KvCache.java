package dev.keel.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Keys and values of the tokens seen so far, per layer, shape (B, n_kv_heads, S, head_dim). A forward pass
 * with a cache attends over the cached tokens plus its own and appends its own.
 *
 * <p>The cache owns its tensors: each one it keeps gets a native reference of its own, so it survives the
 * {@code PointerScope} of the step that made it, and is released when replaced or on {@link #close()}. Use
 * one scope per step and the cache across steps.
 */
public final class KvCache implements AutoCloseable {
    private final Tensor[] keys;
    private final Tensor[] values;

    public KvCache(int numLayers) {
        keys = new Tensor[numLayers];
        values = new Tensor[numLayers];
    }

    /** Number of cached positions (0 when empty). */
    public long length() {
        return keys[0] == null ? 0 : keys[0].size(2);
    }

    /** Appends this step's keys and values of {@code layer} and returns all of them (cached + new). */
    public Tensor[] append(int layer, Tensor k, Tensor v) {
        if (keys[layer] == null) {
            keys[layer] = own(k, null);
            values[layer] = own(v, null);
        } else {
            keys[layer] = own(torch.cat(new TensorVector(keys[layer], k), 2), keys[layer]);
            values[layer] = own(torch.cat(new TensorVector(values[layer], v), 2), values[layer]);
        }
        return new Tensor[] {keys[layer], values[layer]};
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
        }
    }
}
