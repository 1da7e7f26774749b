package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

class ReferenceLogpsTest {
    @TempDir
    Path tmp;

    private static final PreferencePair A = new PreferencePair(1, new long[] {1}, new long[] {2}, new long[] {3}, 0);
    private static final PreferencePair B = new PreferencePair(2, new long[] {1}, new long[] {4}, new long[] {5}, 0);

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void aBatchIsLaidOutChosenFirstThenRejected() {
        ReferenceLogps r = ReferenceLogps.of(List.of(A, B), new double[] {-1, -2}, new double[] {-3, -4});
        // batch (B, A): chosen of B, chosen of A, rejected of B, rejected of A
        assertArrayEquals(new float[] {-2, -1, -4, -3}, Tensors.toFloats(r.forBatch(List.of(B, A), new org.bytedeco.pytorch.Device("cpu"))));
    }

    @Test
    void aPairItWasNotComputedForIsAnErrorNotAZero() {
        ReferenceLogps r = ReferenceLogps.of(List.of(A), new double[] {-1}, new double[] {-3});
        KeelException e = assertThrows(KeelException.class, () -> r.chosen(B));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void referenceFreeIsZeroForEveryPair() {
        ReferenceLogps r = ReferenceLogps.referenceFree();
        assertEquals(0.0, r.chosen(B));
        assertEquals(0.0, r.rejected(A));
        assertTrue(r.isReferenceFree());
    }

    @Test
    void saveThenLoadGivesTheSameValuesAndAWrongCountIsRefused() throws Exception {
        ReferenceLogps r = ReferenceLogps.of(List.of(A, B), new double[] {-1.5, -2}, new double[] {-3, -4.25});
        Path f = tmp.resolve("reference_logps.json");
        r.save(f, List.of(A, B));
        ReferenceLogps back = ReferenceLogps.load(f, List.of(A, B));
        assertEquals(-1.5, back.chosen(A));
        assertEquals(-4.25, back.rejected(B));
        KeelException e = assertThrows(KeelException.class, () -> ReferenceLogps.load(f, List.of(A)));
        assertTrue(e.getMessage().contains("holds 2 pairs but the data has 1"), e.getMessage());
        Files.writeString(f, "[[1, \"x\"], [2, 3]]");
        assertThrows(KeelException.class, () -> ReferenceLogps.load(f, List.of(A, B)));
    }

    @Test
    void theDpoTaskRefusesReferenceLogProbsThatDoNotMatchItsSettings() {
        CausalLM m = null; // the check comes before the model is used
        assertThrows(IllegalArgumentException.class,
                () -> new DpoTask(m, 0, DpoConfig.defaults(), ReferenceLogps.referenceFree()));
        assertThrows(IllegalArgumentException.class, () -> new DpoTask(m, 0, DpoConfig.defaults().withReferenceFree(true),
                ReferenceLogps.of(List.of(A), new double[] {0}, new double[] {0})));
    }
}
