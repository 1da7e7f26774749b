package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.OptimConfig;

/** PPO with two lanes (sampling, scoring and the update in halves) repeats exactly, whichever lane ends first. */
class RlLanesTest {
    @TempDir
    static Path tmp;

    @BeforeAll
    static void init() {
        TestSupport.init();
    }

    /** The policy's and value model's weights after 2 PPO iterations of 4 prompts, minibatches of 4, in 2 lanes. */
    private static Map<String, float[]> ppo(Path dir, String out) throws Exception {
        CausalLM policy = ModelFiles.load(dir, null, null);
        CausalLM reference = ModelFiles.load(dir, null, null);
        org.bytedeco.pytorch.global.torch.manual_seed(1); // the value model's new score head draws from it
        CausalLM value = ModelFiles.load(dir, null, null, Head.SCORE);
        Map<String, float[]> w = new LinkedHashMap<>();
        try (AutoCloseable two = Lanes.use(2); Tokenizer tok = Tokenizer.load(dir)) {
            List<long[]> ids = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            for (String t : List.of("the film was", "a story of", "i would say", "the actors")) {
                ids.add(tok.encode(t, true));
                texts.add(t);
            }
            RlConfig cfg = RlConfig.defaults(Ppo.defaults()).withSeed(5)
                    .withSampling(s -> new RlConfig.Sampling(2, 4, 6, 1.0))
                    .withUpdates(u -> new RlConfig.Updates(2, 4, 0.2));
            new RlTrainer(cfg, OptimConfig.defaults(1e-2), policy, reference, new Critic(value),
                    new TextLengthReward(), new Prompts(ids, texts, tok), 0, Set.of(tok.eosId()), tmp.resolve(out))
                    .run(new CausalLMState(policy, dir));
        }
        policy.trainable().forEach((k, t) -> w.put("policy." + k, Tensors.toFloats(t.flatten())));
        value.trainable().forEach((k, t) -> w.put("value." + k, Tensors.toFloats(t.flatten())));
        return w;
    }

    @Test
    void twoLanesGiveTheSameWeightsOnEveryRun() throws Exception {
        Path dir = TinyModels.llama(tmp.resolve("policy"), 8);
        Map<String, float[]> a = ppo(dir, "a");
        Map<String, float[]> b = ppo(dir, "b");
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
        }
        CausalLM start = ModelFiles.load(dir, null, null);
        String first = start.trainable().keySet().iterator().next();
        org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(Tensors.toFloats(start.trainable().get(first).flatten()),
                a.get("policy." + first)), "the policy trained");
    }
}
