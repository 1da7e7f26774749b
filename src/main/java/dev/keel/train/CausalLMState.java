package dev.keel.train;

import java.nio.file.Path;
import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import dev.keel.model.CausalLM;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.ModelFiles;

/**
 * A causal LM as the loop sees it; saving also copies the tokenizer files of {@code sideFilesFrom}. A model with
 * LoRA adapters trains and saves only them (and a scalar head), in PEFT's layout, with {@code sideFilesFrom} as the
 * base model's path.
 */
public final class CausalLMState implements ModelState {
    private final CausalLM model;
    private final Path sideFilesFrom;

    public CausalLMState(CausalLM model, Path sideFilesFrom) {
        this.model = model;
        this.sideFilesFrom = sideFilesFrom;
    }

    @Override
    public Map<String, Tensor> parameters() {
        return model.trainable();
    }

    @Override
    public boolean backwardSplits() {
        return dev.keel.model.BackwardPass.splittable(model);
    }

    @Override
    public void save(Path dir) {
        if (model.adapters() != null) {
            AdapterFiles.save(model, dir, sideFilesFrom, sideFilesFrom);
            return;
        }
        ModelFiles.save(model, dir, model.dtype(), ModelFiles.DEFAULT_MAX_SHARD_BYTES, sideFilesFrom);
    }

    @Override
    public void load(Path dir) {
        if (model.adapters() != null) {
            AdapterFiles.loadInto(dir, model);
            return;
        }
        // the head of the model in memory decides what to read: a reward model started from a causal LM still
        // carries the LM's config, but its checkpoints hold score.weight
        Map<String, Tensor> w = ModelFiles.readWeights(dir, model.config(),
                CausalLM.expectedShapes(model.config(), model.head()), model.dtype(), null);
        try (NoGradGuard ng = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : model.weights().entrySet()) {
                e.getValue().copy_(w.get(e.getKey()));
            }
        }
    }
}
