package dev.keel.train;

import java.nio.file.Path;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;

/**
 * What the loop needs of a model, and no more: its trainable tensors by name, and how to write and read
 * them. The loop knows nothing else about the model (minGPT's trainer: "nothing in this file really has
 * anything to do with GPT specifically").
 */
public interface ModelState {
    /** Trainable tensors by name, in a fixed order. */
    Map<String, Tensor> parameters();

    /** Writes the model (weights, config, tokenizer files) into {@code dir}, which exists. */
    void save(Path dir);

    /** Reads weights written by {@link #save} back into {@link #parameters()} (in place). */
    void load(Path dir);

    /**
     * Whether a batch's backward may run in parts side by side and give the same gradients whichever part ends
     * first ({@link dev.keel.model.BackwardPass#splittable}). No by default.
     */
    default boolean backwardSplits() {
        return false;
    }
}
