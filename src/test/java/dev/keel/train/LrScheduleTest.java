package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
    @Test
    void warmUpRisesLinearlyFromZeroAsInTransformers() {
        // warm-up 4 of 10 steps: factors 0, 1/4, 2/4, 3/4 at steps 0..3
        for (LrSchedule s : LrSchedule.values()) {
            assertEquals(0.0, s.factor(0, 4, 10), 1e-12);
            assertEquals(0.25, s.factor(1, 4, 10), 1e-12);
            assertEquals(0.75, s.factor(3, 4, 10), 1e-12);
        }
    }

    @Test
    void linearDecaysToZeroAtTheLastStep() {
        // after warm-up 4 of 10: (10 - s) / 6 -> s = 4: 1, s = 7: 0.5, s = 10: 0
        assertEquals(1.0, LrSchedule.LINEAR.factor(4, 4, 10), 1e-12);
        assertEquals(0.5, LrSchedule.LINEAR.factor(7, 4, 10), 1e-12);
        assertEquals(0.0, LrSchedule.LINEAR.factor(10, 4, 10), 1e-12);
    }

    @Test
    void cosineIsHalfWayAtTheMiddle() {
        // progress (s - 0) / 10: s = 5 -> 0.5 (1 + cos(pi/2)) = 0.5; s = 10 -> 0
        assertEquals(1.0, LrSchedule.COSINE.factor(0, 0, 10), 1e-12);
        assertEquals(0.5, LrSchedule.COSINE.factor(5, 0, 10), 1e-12);
        assertEquals(0.0, LrSchedule.COSINE.factor(10, 0, 10), 1e-12);
        // s = 2.5 of 10 would be 0.5 (1 + cos(pi/4)) = 0.853553; at s = 2 of 8: same progress
        assertEquals(0.853553, LrSchedule.COSINE.factor(2, 0, 8), 1e-6);
    }

    @Test
    void constantStaysAtOneAfterWarmUp() {
        assertEquals(1.0, LrSchedule.CONSTANT.factor(9, 2, 10), 1e-12);
    }
}
