package dev.keel.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AdaptiveKlControllerTest {
    private static final double EPS = 1e-12;

    @Test
    void klAtTwiceTheTargetIsClippedToAPlusTwentyPercentError() {
        // KL / target − 1 = 2 − 1 = 1 → e = clip(1, −0.2, 0.2) = 0.2
        // β = 0.1, n = 64, horizon 10000: 0.1 · (1 + 0.2 · 64 / 10000) = 0.1 · 1.00128 = 0.100128
        assertEquals(0.100128, AdaptiveKlController.update(0.1, 12.0, 6.0, 10000, 64), EPS);
    }

    @Test
    void klFarBelowTheTargetIsClippedToAMinusTwentyPercentError() {
        // KL / target − 1 = 0.5 − 1 = −0.5 → e = −0.2: 0.1 · (1 − 0.2 · 64 / 10000) = 0.1 · 0.99872 = 0.099872
        assertEquals(0.099872, AdaptiveKlController.update(0.1, 3.0, 6.0, 10000, 64), EPS);
    }

    @Test
    void klNearTheTargetMovesBetaProportionally() {
        // KL / target − 1 = 6.6 / 6 − 1 = 0.1 (inside the clip): 0.1 · (1 + 0.1 · 64 / 10000) = 0.100064
        assertEquals(0.100064, AdaptiveKlController.update(0.1, 6.6, 6.0, 10000, 64), 1e-10);
    }

    @Test
    void klAtTheTargetLeavesBetaUnchanged() {
        assertEquals(0.05, AdaptiveKlController.update(0.05, 6.0, 6.0, 10000, 512), EPS);
    }

    @Test
    void updatesCompoundMultiplicatively() {
        // two clipped updates: 0.1 · 1.00128² = 0.1 · 1.0025616384 = 0.10025616384
        double beta = AdaptiveKlController.update(0.1, 100, 6.0, 10000, 64);
        beta = AdaptiveKlController.update(beta, 100, 6.0, 10000, 64);
        assertEquals(0.10025616384, beta, EPS);
    }

    @Test
    void zeroStepsOrZeroBetaStayPut() {
        assertEquals(0.1, AdaptiveKlController.update(0.1, 100, 6.0, 10000, 0), EPS);
        assertEquals(0.0, AdaptiveKlController.update(0.0, 100, 6.0, 10000, 64), EPS);
    }

    @Test
    void invalidArgumentsAreRejectedNamingTheOption() {
        IllegalArgumentException target = assertThrows(IllegalArgumentException.class,
                () -> AdaptiveKlController.update(0.1, 1, 0, 10000, 64));
        assertTrue(target.getMessage().contains("--kl-target"), target.getMessage());
        IllegalArgumentException horizon = assertThrows(IllegalArgumentException.class,
                () -> AdaptiveKlController.update(0.1, 1, 6, -1, 64));
        assertTrue(horizon.getMessage().contains("--kl-horizon"), horizon.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AdaptiveKlController.update(-0.1, 1, 6, 10000, 64));
        assertThrows(IllegalArgumentException.class, () -> AdaptiveKlController.update(0.1, Double.NaN, 6, 10000, 64));
        assertThrows(IllegalArgumentException.class, () -> AdaptiveKlController.update(0.1, 1, 6, 10000, -1));
    }
}
