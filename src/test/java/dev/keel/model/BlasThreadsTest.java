package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.openblas.presets.openblas_nolapack;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.runtime.BlasThreads;

class BlasThreadsTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void aBf16ScopeRunsOpenBlasSingleThreadedAndRestoresItsThreads() {
        int before = openblas_nolapack.blas_get_num_threads();
        try {
            BlasThreads.set(2);
            try (Compute c = Compute.use(true, false)) {
                assertEquals(1, openblas_nolapack.blas_get_num_threads());
            }
            assertEquals(2, openblas_nolapack.blas_get_num_threads());
            try (Compute c = Compute.use(false, true)) {
                assertEquals(2, openblas_nolapack.blas_get_num_threads(), "a float32 scope leaves OpenBLAS as it is");
            }
            BlasThreads.set(-1);                 // as in a fresh process: no count set through the presets yet
            try (Compute c = Compute.use(true, false)) {
                assertEquals(1, openblas_nolapack.blas_get_num_threads());
            }
            assertEquals(-1, openblas_nolapack.blas_get_num_threads(), "OpenBLAS gets all its threads back");
        } finally {
            BlasThreads.set(before);
        }
    }
}
