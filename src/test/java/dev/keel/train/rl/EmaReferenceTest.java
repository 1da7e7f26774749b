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
            RlConfig cfg = RlConfig.defaults(Grpo.of(2)).withSampling(s -> new RlConfig.Sampling(3, 1, 6, 1.0))
                    .withKl(k -> k.withRefEmaDecay(0.5));
            // a reward that differs between the two samples of a group: with "great" counted, both scored 0 on
            // some machines, every advantage was 0 and the policy did not move
            new RlTrainer(cfg, OptimConfig.defaults(1e-2), policy, shared, null, new TextLengthReward(), prompts, 0,
                    Set.of(tok.eosId()), tmp.resolve("out")).run(new CausalLMState(policy, dir));
        }
        assertArrayEquals(before, Tensors.toFloats(shared.weights().get(name).flatten()));
        float[] moved = Tensors.toFloats(policy.weights().get(name).flatten());
        org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(before, moved), "the policy trained");
    }

    @Test
    void theMovingReferenceIsTheOneTheKlIsMeasuredAgainst() {
        // the first iteration's reference is the starting policy either way; from the second on, the EMA reference
        // has moved towards the policy, so the KL to it differs from the KL to the frozen one
        Path dir = TinyModels.llama(tmp.resolve("policy-kl"), 6);
        double[][] kl = new double[2][];
        for (int run = 0; run < 2; run++) {
            double decay = run == 0 ? 0 : 0.5;
            CausalLM policy = ModelFiles.load(dir, null, null);
            CausalLM reference = ModelFiles.load(dir, null, null);
            java.util.List<Double> seen = new java.util.ArrayList<>();
            try (Tokenizer tok = Tokenizer.load(dir)) {
                Prompts prompts = new Prompts(List.of(tok.encode("the film was", true)), List.of("the film was"), tok);
                RlConfig cfg = RlConfig.defaults(Grpo.of(2)).withSampling(s -> new RlConfig.Sampling(3, 1, 6, 1.0))
                        .withKl(k -> k.withRefEmaDecay(decay));
                // a reward that differs between the two samples, so the policy moves by learning (with "great"
                // counted, both samples scored 0 and only round-off moved it)
                new RlTrainer(cfg, OptimConfig.defaults(3e-2), policy, reference, null, new TextLengthReward(), prompts, 0, Set.of(tok.eosId()),
                        tmp.resolve("out-kl-" + run)).onLog(m -> seen.add((Double) m.get("objective/kl")))
                        .run(new CausalLMState(policy, dir));
            }
            kl[run] = seen.stream().mapToDouble(Double::doubleValue).toArray();
        }
        org.junit.jupiter.api.Assertions.assertEquals(kl[0][0], kl[1][0], 1e-9, "the first iteration is the same");
        org.junit.jupiter.api.Assertions.assertNotEquals(kl[0][2], kl[1][2], "KL to the moved reference differs");
    }
}
