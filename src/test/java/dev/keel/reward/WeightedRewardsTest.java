package dev.keel.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import dev.keel.tokenizer.Tokenizer;

/** Several rewards summed with weights, as TRL's reward_funcs and reward_weights. */
class WeightedRewardsTest {
    /** A text scorer: the completion's length in characters. */
    private static RewardSource length() {
        return new RewardSource() {
            public String name() {
                return "length";
            }

            public double[] score(List<String> prompts, List<String> completions) {
                return completions.stream().mapToDouble(String::length).toArray();
            }
        };
    }

    /** A scorer of ids too: the number of completion ids. */
    private static RewardSource ids(double perToken) {
        return new RewardSource() {
            public String name() {
                return "ids";
            }

            public double[] score(List<String> prompts, List<String> completions) {
                return new double[completions.size()];
            }

            public Optional<IdsScorer> ids(Tokenizer tok) {
                return Optional.of((p, c) -> c.stream().mapToDouble(x -> perToken * x.length).toArray());
            }
        };
    }

    @Test
    void theScoreIsTheWeightedSumOfEachRewards() {
        // "great" (5 chars) and "ok" (2): 1·5 + 0.5·count("great") = 5 + 0.5 · 1 = 5.5; 1·2 + 0.5·0 = 2
        WeightedRewards w = new WeightedRewards(List.of(length(), new CountReward("great")), new double[] {1, 0.5});
        assertArrayEquals(new double[] {5.5, 2}, w.score(List.of("a", "b"), List.of("great", "ok")), 1e-12);
        assertEquals("1.0*length + 0.5*builtin:count:great", w.name());
    }

    @Test
    void idsAreScoredDirectlyOnlyWhenEverySourceCan() {
        assertTrue(new WeightedRewards(List.of(ids(1), length()), new double[] {1, 1}).ids(null).isEmpty());
        var both = new WeightedRewards(List.of(ids(1), ids(2)), new double[] {1, -1}).ids(null).orElseThrow();
        // 3 ids: 1·3 − 1·(2·3) = −3
        assertArrayEquals(new double[] {-3}, both.score(List.of(new long[] {1}), List.of(new long[] {4, 5, 6})), 1e-12);
    }

    @Test
    void oneWeightPerRewardIsRequired() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new WeightedRewards(List.of(length()), new double[] {1, 2})).getMessage()
                .contains("one weight per --reward"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Rewards.open(List.of("builtin:count:a"), List.of(Double.NaN), 4)).getMessage()
                .contains("--reward-weights must be finite"));
    }
}
