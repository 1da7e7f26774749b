package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.OptimConfig;

/** What the reward sees in RL: the sampled ids when it reads the policy's ids, else the decoded text. */
class RewardInputTest {
    @TempDir
    static Path tmp;

    static Path policyDir;
    static Tokenizer tok;

    @BeforeAll
    static void model() {
        TestSupport.init();
        policyDir = TinyModels.llama(tmp.resolve("policy"), 5);
        tok = Tokenizer.load(policyDir);
    }

    /** A reward that records what it is given; reads ids when {@code ids} is true. */
    static final class Recording implements RewardSource {
        final boolean ids;
        final List<long[]> idPrompts = new ArrayList<>();
        final List<long[]> idCompletions = new ArrayList<>();
        final List<String> texts = new ArrayList<>();

        Recording(boolean ids) {
            this.ids = ids;
        }

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public double[] score(List<String> prompts, List<String> completions) {
            texts.addAll(completions);
            return new double[completions.size()];
        }

        @Override
        public Optional<IdsScorer> ids(Tokenizer t) {
            return ids ? Optional.of((p, c) -> {
                idPrompts.addAll(p);
                idCompletions.addAll(c);
                return new double[c.size()];
            }) : Optional.empty();
        }
    }

    private static void runOneIteration(RewardSource reward, Path out) {
        CausalLM policy = ModelFiles.load(policyDir, null, null);
        CausalLM reference = ModelFiles.load(policyDir, null, null);
        long[] prompt = tok.encode("the film was", true);
        Prompts prompts = new Prompts(List.of(prompt), List.of("the film was"), tok);
        RlConfig cfg = RlConfig.defaults(Grpo.of(2)).withSampling(s -> new RlConfig.Sampling(1, 1, 4, 1.0))
                .withUpdates(u -> u.withEpochs(1));
        new RlTrainer(cfg, OptimConfig.defaults(1e-4), policy, reference, null, reward, prompts, 0,
                Set.of(tok.eosId()), out).run(new CausalLMState(policy, policyDir));
    }

    @Test
    void aRewardThatReadsThePolicysIdsGetsTheSampledIds() {
        Recording r = new Recording(true);
        runOneIteration(r, tmp.resolve("ids"));
        assertEquals(2, r.idCompletions.size());
        assertTrue(r.texts.isEmpty(), "no text when ids are read");
        assertArrayEquals(tok.encode("the film was", true), r.idPrompts.get(0));
        assertTrue(r.idCompletions.get(0).length >= 1 && r.idCompletions.get(0).length <= 4);
    }

    @Test
    void aTextRewardGetsTheDecodedCompletions() {
        Recording r = new Recording(false);
        runOneIteration(r, tmp.resolve("text"));
        assertEquals(2, r.texts.size());
        assertTrue(r.idCompletions.isEmpty());
    }

    @Test
    void aRewardModelReadsIdsOnlyWithThePolicysTokenizer() throws Exception {
        Path rmDir = tmp.resolve("rm");
        new CausalLMState(ModelFiles.load(policyDir, null, null, Head.SCORE), policyDir).save(rmDir);
        try (ModelReward rm = new ModelReward(rmDir, null, 4)) {
            assertTrue(rm.ids(tok).isPresent());
            // ended completions score the same through ids and through text
            long[] p = tok.encode("the film was", true);
            long[] c = dev.keel.data.Ids.concat(tok.encode(" great.", false), new long[] {tok.eosId()});
            double viaIds = rm.ids(tok).get().score(List.of(p), List.of(c))[0];
            double viaText = rm.score(List.of("the film was"), List.of(" great."), new boolean[] {true})[0];
            assertEquals(viaText, viaIds, 1e-6);
            Path other = tmp.resolve("other-tok");
            TinyModels.llama(other, 9);
            java.nio.file.Files.writeString(other.resolve("tokenizer.json"),
                    java.nio.file.Files.readString(other.resolve("tokenizer.json")).replace("\"<|endoftext|>\"", "\"<|end|>\""));
            try (Tokenizer otherTok = Tokenizer.load(other)) {
                assertTrue(rm.ids(otherTok).isEmpty());
            }
        }
    }
}
