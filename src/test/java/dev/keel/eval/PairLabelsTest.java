package dev.keel.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

class PairLabelsTest {
    private static final long[] T = {1};

    @Test
    void bestPairsWithWorstAndSecondBestWithSecondWorst() {
        // one prompt, k = 4, gold (0.1, 0.9, -0.5, 0.3): ranked 1, 3, 0, 2 → pairs (1, 2) and (3, 0)
        PairLabels.Picked p = PairLabels.pick(new double[] {0.1, 0.9, -0.5, 0.3}, List.of(T, T, T, T), 4, 0);
        assertEquals(2, p.pairs().size());
        assertArrayEquals(new int[] {1, 2}, p.pairs().get(0));
        assertArrayEquals(new int[] {3, 0}, p.pairs().get(1));
        assertEquals(0, p.ties());
    }

    @Test
    void nearTiesAreLeftOutAndCounted() {
        // margins 1.4 and 0.2: with 0.25 the second pair is a tie; exact ties never count, even at margin 0
        PairLabels.Picked p = PairLabels.pick(new double[] {0.1, 0.9, -0.5, 0.3}, List.of(T, T, T, T), 4, 0.25);
        assertEquals(1, p.pairs().size());
        assertEquals(1, p.ties());
        PairLabels.Picked exact = PairLabels.pick(new double[] {0.5, 0.5}, List.of(T, T), 2, 0);
        assertEquals(0, exact.pairs().size());
        assertEquals(1, exact.ties());
    }

    @Test
    void promptsArePairedWithinThemselvesAndEmptyCompletionsNever() {
        // prompt 0: (0.2, 0.8) → (1, 0); prompt 1: sample 3 is empty → nothing, and not a tie either
        PairLabels.Picked p = PairLabels.pick(new double[] {0.2, 0.8, 0.0, 0.7}, List.of(T, T, T, new long[0]), 2, 0);
        assertEquals(1, p.pairs().size());
        assertArrayEquals(new int[] {1, 0}, p.pairs().get(0));
        assertEquals(0, p.ties());
    }
}
