package dev.keel.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class IntervalsTest {
    @Test
    void tIntervalOfOneTwoThree() {
        // x̄ = 2, s = 1, n = 3: half-width t(2) · 1/√3 = 4.303 / 1.732051 = 2.484338
        Intervals.Mean m = Intervals.mean(new double[] {1, 2, 3});
        assertEquals(2.0, m.mean(), 1e-12);
        assertEquals(2.484338, m.halfWidth(), 1e-6);
        assertEquals(-0.484338, m.low(), 1e-6);
    }

    @Test
    void oneValueHasNoInterval() {
        Intervals.Mean m = Intervals.mean(new double[] {0.5});
        assertEquals(0.5, m.mean());
        assertTrue(Double.isNaN(m.halfWidth()));
        assertFalse(m.above(Intervals.mean(new double[] {0.1})), "no interval, no claim");
    }

    @Test
    void separatedIntervalsAreOrderedAndOverlappingOnesAreNot() {
        Intervals.Mean hi = Intervals.mean(new double[] {1.0, 1.1, 0.9, 1.0, 1.0});
        Intervals.Mean lo = Intervals.mean(new double[] {0.0, 0.1, -0.1, 0.0, 0.0});
        Intervals.Mean mid = Intervals.mean(new double[] {0.2, 1.0, 0.6, 0.4, 0.8});
        assertTrue(hi.above(lo));
        assertFalse(lo.above(hi));
        assertFalse(hi.above(mid) && mid.above(lo), "mid overlaps at least one of them");
    }

    @Test
    void wilsonOfSevenOfTen() {
        // p̂ = 0.7, n = 10, z² = 3.8416: d = 1.38416; centre (0.7 + 0.19208) / d = 0.644492;
        // half = 1.96 √(0.021 + 0.009604) / d = 1.96 · 0.174940 / 1.38416 = 0.247718 → [0.396774, 0.892210]
        Intervals.Proportion p = Intervals.wilson(7, 10);
        assertEquals(0.7, p.value(), 1e-12);
        assertEquals(0.396774, p.low(), 1e-5);
        assertEquals(0.892210, p.high(), 1e-5);
    }

    @Test
    void wilsonStaysWithinZeroAndOne() {
        Intervals.Proportion all = Intervals.wilson(20, 20);
        assertTrue(all.high() <= 1.0 + 1e-12 && all.low() > 0.8, all.toString());
        Intervals.Proportion none = Intervals.wilson(0, 20);
        assertTrue(none.low() >= -1e-12 && none.high() < 0.2, none.toString());
    }
}
