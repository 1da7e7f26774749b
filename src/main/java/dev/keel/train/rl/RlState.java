package dev.keel.train.rl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;

import dev.keel.KeelException;
import dev.keel.model.CausalLM;
import dev.keel.train.CausalLMState;
import dev.keel.train.ModelState;

/**
 * Everything an RL run's checkpoint holds besides the optimizer: the policy (in the checkpoint folder itself,
 * loadable as a model), the value model ({@code value_model/}, PPO) and a moving EMA reference
 * ({@code ref_model/}); a frozen reference is the model it was started from and is not written.
 */
final class RlState implements ModelState {
    static final String VALUE_DIR = "value_model";
    static final String REF_DIR = "ref_model";

    private final ModelState policy;
    private final Map<String, Tensor> trainable;
    private final CausalLM critic;
    private final CausalLM movingReference;

    /**
     * @param critic          the value model, or null
     * @param movingReference the EMA reference, or null when the reference is frozen
     */
    RlState(ModelState policy, Map<String, Tensor> trainable, CausalLM critic, CausalLM movingReference) {
        this.policy = policy;
        this.trainable = trainable;
        this.critic = critic;
        this.movingReference = movingReference;
    }

    @Override
    public Map<String, Tensor> parameters() {
        return trainable;
    }

    @Override
    public void save(Path dir) {
        policy.save(dir);
        saveInto(critic, dir.resolve(VALUE_DIR));
        saveInto(movingReference, dir.resolve(REF_DIR));
    }

    @Override
    public void load(Path dir) {
        policy.load(dir);
        loadFrom(critic, dir.resolve(VALUE_DIR));
        loadFrom(movingReference, dir.resolve(REF_DIR));
    }

    private static void saveInto(CausalLM model, Path dir) {
        if (model == null) {
            return;
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot create: " + e.getMessage(), e);
        }
        new CausalLMState(model, null).save(dir);
    }

    private static void loadFrom(CausalLM model, Path dir) {
        if (model == null) {
            return;
        }
        if (!Files.isDirectory(dir)) {
            throw new KeelException(dir + ": missing from the checkpoint; resume with the settings it was written with");
        }
        new CausalLMState(model, null).load(dir);
    }
}
