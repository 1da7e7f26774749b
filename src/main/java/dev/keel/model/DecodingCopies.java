package dev.keel.model;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

import org.bytedeco.pytorch.Tensor;

/**
 * Tensors derived from a model's weights for one generation (the stacked q/k/v and gate/up copies, the weights
 * packed for decoding), shared by the {@link KvCache}s of that generation's parts: the two lanes of a batch make
 * and hold one set instead of two. Made on first use by whichever part asks first (the others wait for it), kept
 * until {@link #close()}.
 */
public final class DecodingCopies implements AutoCloseable {
    private final Map<String, Tensor> copies = new HashMap<>();

    /** The copy named {@code key}, made by {@code make} on first use; a null from {@code make} is kept too. */
    public synchronized Tensor get(String key, Supplier<Tensor> make) {
        if (copies.containsKey(key)) {
            return copies.get(key);
        }
        Tensor t = make.get();
        if (t != null) {
            t.retainReference();     // outlives the PointerScope of the step (and thread) that made it
        }
        copies.put(key, t);
        return t;
    }

    @Override
    public synchronized void close() {
        copies.values().stream().filter(java.util.Objects::nonNull).forEach(Tensor::releaseReference);
        copies.clear();
    }
}
