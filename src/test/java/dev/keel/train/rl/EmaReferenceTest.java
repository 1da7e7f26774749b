package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.Rewards;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.OptimConfig;

/** An EMA reference moves a copy: the model passed as the reference stays as it was. */
class EmaReferenceTest {
    @TempDir
    static Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theReferencePassedInIsUntouchedByTheEmaUpdates() {
        Path dir = TinyModels.llama(tmp.resolve("policy"), 6);
        CausalLM policy = ModelFiles.load(dir, null, null);
        CausalLM shared = ModelFiles.load(dir, null, null);
        String name = shared.weights().keySet().iterator().next();
        float[] before = Tensors.toFloats(shared.weights().get(name).flatten());
        try (Tokenizer tok = Tokenizer.load(dir)) {
            Prompts prompts = new Prompts(List.of(tok.encode("the film was", true)), List.of("the film was"), tok);
            RlConfig cfg = RlConfig.defaults(new Grpo(2)).withSampling(s -> new RlConfig.Sampling(3, 1, 4, 1.0))
                    .withKl(k -> k.withRefEmaDecay(0.5));
            new RlTrainer(cfg, OptimConfig.defaults(1e-2), policy, shared, null, Rewards.open("builtin:count:great", 4),
                    prompts, 0, Set.of(tok.eosId()), tmp.resolve("out")).run(new CausalLMState(policy, dir));
        }
        assertArrayEquals(before, Tensors.toFloats(shared.weights().get(name).flatten()));
        float[] moved = Tensors.toFloats(policy.weights().get(name).flatten());
        org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(before, moved), "the policy trained");
    }
}
