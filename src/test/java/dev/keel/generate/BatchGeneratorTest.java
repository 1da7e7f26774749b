package dev.keel.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.keel.TestSupport;
import dev.keel.data.ScoringRecord;
import dev.keel.train.SequenceScorer;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;

class BatchGeneratorTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static List<String> models() {
        return TestSupport.PARITY_MODELS;
    }

    private static CausalLM load(String name) {
        return ModelFiles.load(TestSupport.fixture("parity/" + name), null, null);
    }

    private static List<long[]> prompts(String name) {
        return TestSupport.longRows(TestSupport.readJson(TestSupport.fixture("parity/" + name).resolve("reference.json"))
                .get("input_ids"));
    }

    private static final SamplingConfig GREEDY_20 = SamplingConfig.greedy(20, Set.of());

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void cachedGreedyEqualsFullRecomputeAndThePyTorchReference(String name) {
        CausalLM m = load(name);
        List<long[]> p = prompts(name);
        Generation cached = BatchGenerator.generate(m, p, GREEDY_20, StopCriterion.NEVER, 0);
        Generation recomputed = BatchGenerator.generate(m, p, GREEDY_20.withCache(false), StopCriterion.NEVER, 0);
        JsonNode ref = TestSupport.readJson(TestSupport.fixture("parity/" + name).resolve("reference.json"));
        for (int i = 0; i < p.size(); i++) {
            assertArrayEquals(recomputed.tokens().get(i), cached.tokens().get(i), "prompt " + i);
            assertArrayEquals(TestSupport.longs(ref.get("greedy").get(i)), cached.tokens().get(i), "prompt " + i);
            assertArrayEquals(recomputed.logProbs().get(i), cached.logProbs().get(i), 1e-4f);
            assertEquals(Generation.Finish.LENGTH, cached.finish().get(i));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void aBatchOfDifferentLengthsGivesEachPromptItsAloneTokens(String name) {
        CausalLM m = load(name);
        List<long[]> p = prompts(name);
        Generation batch = BatchGenerator.generate(m, p, GREEDY_20, StopCriterion.NEVER, 0);
        for (int i = 0; i < p.size(); i++) {
            Generation alone = BatchGenerator.generate(m, List.of(p.get(i)), GREEDY_20, StopCriterion.NEVER, 0);
            assertArrayEquals(alone.tokens().get(0), batch.tokens().get(i), "prompt " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void greedyInTwoLanesGivesTheTokensOfOneBatch(String name) throws Exception {
        CausalLM m = load(name);
        // greedy takes lanes when the model decodes on packed weights (and is narrower than 768): the float32 and
        // bfloat16 fixtures; the float16 ones generate in one batch both times, and the stop's row index is checked
        // for them all
        assertEquals(m.dtype() != dev.keel.model.io.DType.F16, m.decodesGreedyInLanes(), name);
        List<long[]> p = prompts(name);
        List<long[]> more = new ArrayList<>(p);
        more.addAll(p);                                     // enough rows that each lane's half decodes a batch
        more.add(p.get(0));
        Generation one;
        try (AutoCloseable lanes = dev.keel.runtime.Lanes.use(1)) {
            one = BatchGenerator.generate(m, more, GREEDY_20, StopCriterion.NEVER, 0);
        }
        Generation two;
        try (AutoCloseable lanes = dev.keel.runtime.Lanes.use(2)) {
            two = BatchGenerator.generate(m, more, GREEDY_20, (i, g) -> i == more.size() - 1 && g.length == 5, 0);
        }
        for (int i = 0; i < more.size() - 1; i++) {
            assertArrayEquals(one.tokens().get(i), two.tokens().get(i), "prompt " + i);
            assertArrayEquals(one.logProbs().get(i), two.logProbs().get(i), 1e-4f);
        }
        int last = more.size() - 1;                         // in the second lane: the stop sees the batch's index
        assertArrayEquals(java.util.Arrays.copyOf(one.tokens().get(last), 5), two.tokens().get(last));
        assertEquals(Generation.Finish.STOP, two.finish().get(last));
    }

    @Test
    void sampledLogProbsEqualWhatLogprobsScoresForTheSameIds() {
        CausalLM m = load("llama3-rope-sharded");
        List<long[]> p = prompts("llama3-rope-sharded");
        SamplingConfig cfg = new SamplingConfig(15, 1.0, 0, 1.0, 42, Set.of(), true);
        Generation g = BatchGenerator.generate(m, p, cfg, StopCriterion.NEVER, 0);
        List<ScoringRecord> recs = new ArrayList<>();
        for (int i = 0; i < p.size(); i++) {
            recs.add(new ScoringRecord(i, p.get(i), g.tokens().get(i)));
        }
        List<SequenceScorer.Score> scores = SequenceScorer.score(m, recs, 4, 0);
        for (int i = 0; i < p.size(); i++) {
            double sum = 0;
            for (float x : g.logProbs().get(i)) {
                sum += x;
            }
            assertEquals(scores.get(i).logProb(), sum, 1e-4, "prompt " + i);
        }
    }

    @Test
    void topKOneAndATinyTopPBothEqualGreedy() {
        CausalLM m = load("qwen2-tiny-bf16");
        List<long[]> p = prompts("qwen2-tiny-bf16");
        Generation greedy = BatchGenerator.generate(m, p, GREEDY_20, StopCriterion.NEVER, 0);
        Generation topK1 = BatchGenerator.generate(m, p, new SamplingConfig(20, 1.0, 1, 1.0, 7, Set.of(), true),
                StopCriterion.NEVER, 0);
        Generation topPTiny = BatchGenerator.generate(m, p, new SamplingConfig(20, 0.8, 0, 1e-6, 7, Set.of(), true),
                StopCriterion.NEVER, 0);
        for (int i = 0; i < p.size(); i++) {
            assertArrayEquals(greedy.tokens().get(i), topK1.tokens().get(i));
            assertArrayEquals(greedy.tokens().get(i), topPTiny.tokens().get(i));
        }
    }

    @Test
    void rowsWithSeedsOfTheirOwnSampleTheSameInAnyBatchThatHoldsThem() {
        CausalLM m = load("gpt2-tiny");
        List<long[]> p = prompts("gpt2-tiny");
        SamplingConfig cfg = new SamplingConfig(20, 1.0, 0, 1.0, 123, Set.of(), true);
        long[] seeds = new long[p.size()];
        for (int i = 0; i < seeds.length; i++) {
            seeds[i] = 1000 + i;
        }
        Generation whole = BatchGenerator.generate(m, p, cfg, StopCriterion.NEVER, 0, seeds);
        int half = p.size() / 2;
        assertTrue(half >= 1, "the fixture has at least two prompts");
        Generation first = BatchGenerator.generate(m, p.subList(0, half), cfg, StopCriterion.NEVER, 0,
                java.util.Arrays.copyOfRange(seeds, 0, half));
        Generation second = BatchGenerator.generate(m, p.subList(half, p.size()), cfg, StopCriterion.NEVER, 0,
                java.util.Arrays.copyOfRange(seeds, half, seeds.length));
        boolean differ = false;
        for (int i = 0; i < p.size(); i++) {
            long[] part = i < half ? first.tokens().get(i) : second.tokens().get(i - half);
            assertArrayEquals(whole.tokens().get(i), part, "row " + i);
            differ |= !java.util.Arrays.equals(whole.tokens().get(i), whole.tokens().get(0));
        }
        assertTrue(differ || p.size() == 1, "rows sample from different streams");
    }

    @Test
    void theSameSeedRepeatsAndAnotherSeedDiffers() {
        CausalLM m = load("gpt2-tiny");
        List<long[]> p = prompts("gpt2-tiny");
        SamplingConfig cfg = new SamplingConfig(20, 1.0, 0, 1.0, 123, Set.of(), true);
        Generation a = BatchGenerator.generate(m, p, cfg, StopCriterion.NEVER, 0);
        Generation b = BatchGenerator.generate(m, p, cfg, StopCriterion.NEVER, 0);
        Generation c = BatchGenerator.generate(m, p, cfg.withSeed(124), StopCriterion.NEVER, 0);
        boolean anyDiff = false;
        for (int i = 0; i < p.size(); i++) {
            assertArrayEquals(a.tokens().get(i), b.tokens().get(i));
            anyDiff |= !java.util.Arrays.equals(a.tokens().get(i), c.tokens().get(i));
        }
        assertTrue(anyDiff, "a different seed should give different samples");
        // without log-probabilities: the same draws (the log-probs take nothing from the generator), none returned
        Generation d = BatchGenerator.generate(m, p, cfg.withoutLogProbs(), StopCriterion.NEVER, 0);
        for (int i = 0; i < p.size(); i++) {
            assertArrayEquals(a.tokens().get(i), d.tokens().get(i));
        }
        assertTrue(d.logProbs().isEmpty());
        assertEquals(p.size(), a.logProbs().size());
    }

    @Test
    void eosEndsASequenceAndKeepsTheEosTokenWhileOthersGoOn() {
        CausalLM m = load("mistral-tiny-headdim");
        List<long[]> p = prompts("mistral-tiny-headdim");
        JsonNode ref = TestSupport.readJson(TestSupport.fixture("parity/mistral-tiny-headdim").resolve("reference.json"));
        long eos = ref.get("greedy").get(0).get(3).asLong();   // prompt 0's fourth greedy token
        Generation g = BatchGenerator.generate(m, p, SamplingConfig.greedy(20, Set.of(eos)), StopCriterion.NEVER, 0);
        long[] t0 = g.tokens().get(0);
        assertEquals(eos, t0[t0.length - 1]);
        assertTrue(t0.length <= 4);
        assertEquals(Generation.Finish.EOS, g.finish().get(0));
        for (int i = 1; i < p.size(); i++) {
            long[] want = TestSupport.longs(ref.get("greedy").get(i));
            long[] got = g.tokens().get(i);
            assertArrayEquals(java.util.Arrays.copyOf(want, got.length), got,
                    "other rows are unaffected when a row leaves the batch");
        }
    }

    @Test
    void aStopCriterionEndsOnlyItsSequence() {
        CausalLM m = load("gpt2-tiny");
        List<long[]> p = prompts("gpt2-tiny");
        Generation g = BatchGenerator.generate(m, p, GREEDY_20, (prompt, gen) -> prompt == 1 && gen.length == 5, 0);
        assertEquals(5, g.tokens().get(1).length);
        assertEquals(Generation.Finish.STOP, g.finish().get(1));
        assertEquals(20, g.tokens().get(0).length);
        assertFalse(g.finish().get(0) == Generation.Finish.STOP);
    }
}
