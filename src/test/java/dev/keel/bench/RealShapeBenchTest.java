package dev.keel.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RealShapeBenchTest {
    @Test
    void decodingIsTheTokensAfterTheFirstOverTheTimeAfterIt() {
        // 32 tokens in 0.30 s, the first of them at 0.05 s: 31 tokens in 0.25 s
        assertEquals(124.0, RealShapeBench.decodeTokensPerSecond(1, 32, 0.30, 0.05), 1e-9);
        // 16 rows: 16 x 31 tokens in the same 0.25 s
        assertEquals(1984.0, RealShapeBench.decodeTokensPerSecond(16, 32, 0.30, 0.05), 1e-9);
        // 2 tokens: one token decoded, in 0.4 - 0.3 s
        assertEquals(10.0, RealShapeBench.decodeTokensPerSecond(1, 2, 0.4, 0.3), 1e-9);
    }

    @Test
    void noRateWithoutATimeToDivideBy() {
        assertTrue(Double.isNaN(RealShapeBench.decodeTokensPerSecond(1, 1, 0.05, 0.05)), "one token: nothing after the first");
        assertTrue(Double.isNaN(RealShapeBench.decodeTokensPerSecond(1, 32, 0.05, 0.06)), "the first token marked after the run ended");
        assertTrue(Double.isNaN(RealShapeBench.decodeTokensPerSecond(1, 32, 0.05, 0.05)), "no difference");
    }
}
