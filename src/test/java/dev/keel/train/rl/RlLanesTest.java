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

    /**
     * Every tensor of a scored rollout (the reward model's scores, log π_old and the reference's log-probs, the value
     * model's predictions) as two lanes make it, the rows split between them, and as one thread makes it in turn:
     * PPO, whose log π_old are the sampler's, and RLOO, whose come from a pass of the policy; two models, and LoRA's
     * reference (the policy with its adapters off); an even and an odd number of rows. PPO's sampled log-probs are
     * those a pass of the policy over the rollout gives, to float rounding.
     */
    @Test
    void scoringInTwoLanesGivesWhatScoringInTurnGives() throws Exception {
        Path dir = TinyModels.llama(tmp.resolve("scored"), 8);
        Path rmDir = tmp.resolve("scored-rm");
        org.bytedeco.pytorch.global.torch.manual_seed(3);
        new CausalLMState(ModelFiles.load(dir, null, null, Head.SCORE), dir).save(rmDir);
        for (boolean lora : new boolean[] {false, true}) {
            CausalLM policy = ModelFiles.load(dir, null, null);
            if (lora) {
                policy.addLora(new dev.keel.model.LoraConfig(4, 8, 0, List.of(dev.keel.model.LoraConfig.ALL_LINEAR), false));
                org.bytedeco.pytorch.global.torch.manual_seed(4);
                TinyModels.randomiseLoraB(policy, 0.3);
            }
            CausalLM reference = lora ? policy : ModelFiles.load(dir, null, null);
            Critic critic = new Critic(ModelFiles.load(rmDir, null, null, Head.SCORE));
            try (Tokenizer tok = Tokenizer.load(dir); dev.keel.reward.ModelReward rm = new dev.keel.reward.ModelReward(rmDir, null, 4)) {
                List<long[]> ids = new ArrayList<>();
                List<String> texts = new ArrayList<>();
                for (String t : List.of("the film was", "a story", "i would say that", "the actors", "one more")) {
                    ids.add(tok.encode(t, true));
                    texts.add(t);
                }
                for (RlAlgorithm<?> method : List.<RlAlgorithm<?>>of(Ppo.defaults(), new Rloo(2, false))) {
                    boolean ppo = method instanceof Ppo;
                    RlConfig cfg = RlConfig.defaults(method).withSeed(5)
                            .withSampling(s -> new RlConfig.Sampling(1, 4, 6, 0.7));
                    RolloutScorer scorer = new RolloutScorer(cfg, policy, reference, ppo ? critic : null, rm,
                            new Prompts(ids, texts, tok), 0, Set.of(tok.eosId()));
                    for (List<Integer> rows : List.of(List.of(0, 1, 2, 3), List.of(0, 1, 4))) {
                        String what = (lora ? "LoRA " : "") + method.name() + " " + rows.size() + " prompts: ";
                        Map<String, float[]> inTurn;
                        Map<String, float[]> inLanes;
                        Scored scored;
                        try (AutoCloseable one = Lanes.use(1)) {
                            scored = scorer.rollout(rows, 0.05, 0, 0).scored();
                            inTurn = tensors(scored);
                        }
                        try (AutoCloseable two = Lanes.use(2)) {
                            inLanes = tensors(scorer.rollout(rows, 0.05, 0, 0).scored());
                        }
                        assertEquals(inTurn.keySet(), inLanes.keySet());
                        for (String k : inTurn.keySet()) {
                            assertArrayEquals(inTurn.get(k), inLanes.get(k), 1e-5f, what + k);
                        }
                        float[] lp = inTurn.get("logpOld");
                        float[] ref = inTurn.get("logpRef");
                        double gap = 0;
                        for (int i = 0; i < lp.length; i++) {
                            gap = Math.max(gap, Math.abs(lp[i] - ref[i]));
                        }
                        assertEquals(lora, gap > 1e-3, what + "the reference differs from the policy only with LoRA's adapters: " + gap);
                        try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
                            float[] pass = Tensors.toFloats(scored.rollout().logProbs(policy, 0.7)[0].mul(scored.mask()).flatten());
                            assertArrayEquals(pass, lp, 1e-4f, what + "log π_old against a pass of the policy");
                        }
                        if (ppo) {
                            org.junit.jupiter.api.Assertions.assertNotEquals(0f, inTurn.get("values")[0], what + "the value model's predictions");
                        }
                    }
                }
            }
        }
    }

    private static Map<String, float[]> tensors(Scored s) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("score", Tensors.toFloats(s.score()));
        m.put("logpOld", Tensors.toFloats(s.logpOld().flatten()));
        m.put("logpRef", Tensors.toFloats(s.logpRef().flatten()));
        if (s.values() != null) {
            m.put("values", Tensors.toFloats(s.values().flatten()));
        }
        m.put("kl", Tensors.toFloats(s.kl().flatten()));
        return m;
    }
}
