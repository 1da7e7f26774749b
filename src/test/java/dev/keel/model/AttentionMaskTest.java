package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class AttentionMaskTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static long[] mask(long[][] keep, long newLen, int window) {
        return Tensors.toLongs(AttentionMask.causal(Tensors.longs(keep, null), newLen, window));
    }

    @Test
    void positionIdsCountOnlyRealTokens() {
        // row 0 left-padded by two, row 1 right-padded by one: pads get 0, real tokens count from 0
        long[][] keep = {{0, 0, 1, 1, 1}, {1, 1, 1, 1, 0}};
        assertArrayEquals(new long[] {0, 0, 0, 1, 2, 0, 1, 2, 3, 0},
                Tensors.toLongs(AttentionMask.positionIds(Tensors.longs(keep, null))));
    }

    @Test
    void causalMaskHidesTheFutureAndPaddingButEveryQuerySeesItself() {
        // one row, first column is padding; rows are queries, columns keys.
        // query 0 (the pad) sees only itself; queries 1 and 2 see real keys up to themselves.
        long[] want = {
            1, 0, 0,
            0, 1, 0,
            0, 1, 1,
        };
        assertArrayEquals(want, mask(new long[][] {{0, 1, 1}}, 3, 0));
    }

    @Test
    void withACacheOnlyTheNewQueriesAreRowsAndAllEarlierKeysAreColumns() {
        // 3 cached columns + 1 new query: the new query (column 3) sees everything up to itself
        assertArrayEquals(new long[] {1, 1, 1, 1}, mask(new long[][] {{1, 1, 1, 1}}, 1, 0));
    }

    @Test
    void aSlidingWindowOfTwoLimitsEachQueryToItselfAndOneBefore() {
        long[] want = {
            1, 0, 0, 0,
            1, 1, 0, 0,
            0, 1, 1, 0,
            0, 0, 1, 1,
        };
        assertArrayEquals(want, mask(new long[][] {{1, 1, 1, 1}}, 4, 2));
    }
}
