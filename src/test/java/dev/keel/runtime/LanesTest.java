package dev.keel.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;

import org.bytedeco.openblas.presets.openblas_nolapack;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;

class LanesTest {
    @BeforeAll
    static void init() {
        TestSupport.init();
    }

    @Test
    void piecesRunSingleThreadedOnLanesOfTheirOwnAndTheCallersThreadsStayAsTheyWere() throws Exception {
        int callerThreads = torch.get_num_threads();
        int blas = openblas_nolapack.blas_get_num_threads();
        try (AutoCloseable two = Lanes.use(2)) {
            Callable<String> piece = () -> Thread.currentThread().getName() + " " + torch.get_num_threads() + " "
                    + openblas_nolapack.blas_get_num_threads();
            List<String> out = Lanes.run(List.of(() -> "first " + piece.call(), () -> "second " + piece.call()));
            assertEquals(List.of("first keel-lane 1 1", "second keel-lane 1 1"), out, "in order, one thread each");
        }
        assertEquals(callerThreads, torch.get_num_threads(), "the caller's intra-op threads");
        assertEquals(blas, openblas_nolapack.blas_get_num_threads(), "OpenBLAS's threads given back");
        try (AutoCloseable one = Lanes.use(1)) {
            assertEquals(List.of(Thread.currentThread().getName()),
                    Lanes.run(List.of(() -> Thread.currentThread().getName())), "one lane: the caller's thread");
        }
    }

    @Test
    void piecesRunInTheCallersGradientMode() throws Exception {
        try (AutoCloseable two = Lanes.use(2)) {
            Callable<Boolean> grad = org.bytedeco.pytorch.GradMode::is_enabled;
            try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
                assertEquals(List.of(false, false), Lanes.run(List.of(grad, grad)), "under the caller's NoGradGuard");
            }
            assertEquals(List.of(true, true), Lanes.run(List.of(grad, grad)), "with gradients");
        }
    }

    @Test
    void aFailingPieceFailsTheRunAfterEveryPieceHasEnded() throws Exception {
        AtomicInteger ended = new AtomicInteger();
        try (AutoCloseable two = Lanes.use(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Lanes.run(List.<Callable<Integer>>of(
                    () -> { throw new IllegalStateException("piece 0 failed"); },
                    () -> { Thread.sleep(200); return ended.incrementAndGet(); })));
            assertEquals("piece 0 failed", e.getMessage());
            assertEquals(1, ended.get(), "the other piece ran to its end before the run failed");
        }
    }

    @Test
    void piecesStartedFromALaneRunThereInTurnInsteadOfWaitingForTheLanes() throws Exception {
        try (AutoCloseable two = Lanes.use(2)) {
            Callable<List<String>> nested = () -> Lanes.run(List.of(() -> Thread.currentThread().getName(),
                    () -> Thread.currentThread().getName()));
            List<List<String>> out = Lanes.run(List.of(nested, nested));
            assertEquals(4, out.stream().mapToInt(List::size).sum());
            assertTrue(out.stream().flatMap(List::stream).allMatch("keel-lane"::equals), out.toString());
        }
    }
}
