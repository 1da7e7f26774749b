package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;

/** keel bench end to end at its smallest settings, Keel only (the PyTorch side is a benchmark reference). */
class BenchCommandTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theBandwidthBoundShare_byHand() {
        // 500 MB of weights a token at 64 GB/s bounds decoding at 128 tokens/s; 64 tokens/s is half of it
        assertEquals(0.5, BenchReal.boundShare(64, 500e6, 64e9), 1e-12);
        assertEquals(1.0, BenchReal.boundShare(128, 500e6, 64e9), 1e-12);
        // the same rate against a slower minute's yardstick reads higher: the run's summary uses its highest
        assertEquals(0.8, BenchReal.boundShare(64, 500e6, 40e9), 1e-12);
        assertTrue(Double.isNaN(BenchReal.boundShare(Double.NaN, 500e6, 64e9)));
    }

    @Test
    void theCasesRunAndReportThroughputMemoryAndThePpoPhases() {
        // (sft runs the same code as dpo's memory base, which this checks)
        TestSupport.Run r = TestSupport.keel("bench", "generate", "dpo", "ppo", "--shapes", "tiny",
                "--batches", "2", "--new-tokens", "4", "--repeats", "1", "--rounds", "1", "--warmup", "0",
                "--no-reference");
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        // the test JVM is not started by the launcher, so libtorch runs on the OpenBLAS bundled in the jars
        assertTrue(out.contains("OpenBLAS bundled, kernels "), out);
        // the equal footing is the default; the kernel family is asked of the reference's Python (unknown without it)
        // and the products of batch-1 decoding run in the build's C kernels, the Llama family's step too (the test JVM
        // has the vector module)
        assertTrue(Pattern.compile("OpenBLAS kernels in use: unknown; batch-1 decoding products: (C \\((avx512f|avx2|c)\\), "
                + "Llama step in C|vector API); reference setup: keel").matcher(out).find(), out);
        assertTrue(Pattern.compile("(?m)^2\\s+[0-9.]+\\s+-\\s+n/a$").matcher(out).find(), out);
        // train rows: positive tokens/s, an MFU and the memory the step added (measured in a fresh JVM)
        for (String c : new String[] {"dpo"}) {
            Matcher m = Pattern.compile("(?m)^" + c + "\\s+tiny\\s+(\\d+)\\s+-\\s+n/a\\s+[0-9.]+%\\s+(\\d+)$").matcher(out);
            assertTrue(m.find(), out);
            assertTrue(Long.parseLong(m.group(1)) > 0);
            assertTrue(Long.parseLong(m.group(2)) > 10, "a train step adds gradients and optimizer state: " + out);
        }
        Matcher ratio = Pattern.compile("DPO memory / SFT on the same 32 rows \\((\\d+) MB\\): ([0-9.]+)").matcher(out);
        assertTrue(ratio.find(), out);
        double dpoOverSft = Double.parseDouble(ratio.group(2));
        assertTrue(dpoOverSft > 0.5 && dpoOverSft < 2, out);
        for (String phase : new String[] {"rollout", "scoring", "update", "total"}) {
            Matcher m = Pattern.compile("(?m)^" + phase + "\\s+([0-9.]+)\\s+-\\s+n/a$").matcher(out);
            assertTrue(m.find(), out);
            assertTrue(Double.parseDouble(m.group(1)) > 0, out);
        }
    }

    @Test
    void noRatioAgainstAnotherBlasOrAnotherKernelFamily() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        assertEquals(null, BenchCommand.blasProblem(json.readTree("{\"blas\":\"openblas\",\"openblas_core\":\"Haswell\"}"),
                "haswell"));
        String kernels = BenchCommand.blasProblem(json.readTree("{\"blas\":\"openblas\",\"openblas_core\":\"SkylakeX\"}"),
                "Haswell");
        assertTrue(kernels.contains("OpenBLAS kernels differ (Keel Haswell, PyTorch SkylakeX)"), kernels);
        String netlib = BenchCommand.blasProblem(json.readTree("{\"blas\":\"reference\",\"openblas_core\":\"unknown\"}"),
                "Haswell");
        assertTrue(netlib.contains("PyTorch runs on reference BLAS"), netlib);
    }

    /** No ratio when only Keel's large tensors are in transparent huge pages: they change a large step by 5-38%. */
    @Test
    void noRatioWhenOnlyKeelHasHugePages() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        assertEquals(null, BenchCommand.hugePageProblem(json.readTree("{\"huge_pages_mb\": 0.0}"), false));
        assertEquals(null, BenchCommand.hugePageProblem(json.readTree("{\"huge_pages_mb\": 300.0, \"peak_rss_mb\": 3100}"),
                false), "Debian's PyTorch held 300 MB of its heap in huge pages without asking");
        assertEquals(null, BenchCommand.hugePageProblem(json.readTree("{\"huge_pages_mb\": 9916.0, \"peak_rss_mb\": 14199}"),
                true));
        String keelOnly = BenchCommand.hugePageProblem(json.readTree("{\"huge_pages_mb\": 300.0, \"peak_rss_mb\": 3100}"),
                true);
        assertTrue(keelOnly != null && keelOnly.contains("THP_MEM_ALLOC_ENABLE=0"), keelOnly);
        String older = BenchCommand.hugePageProblem(json.readTree("{\"blas\": \"openblas\"}"), true);
        assertTrue(older != null && older.contains("PyTorch's process had next to none"), older);
    }

    @Test
    void anUnknownCaseIsRefused() {
        TestSupport.Run r = TestSupport.keel("bench", "train", "--no-reference");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("unknown bench case 'train'"), r.err());
    }

    @Test
    void anUnknownRealModeIsRefusedBeforeAnyCaseRuns() {
        TestSupport.Run r = TestSupport.keel("bench", "real", "--no-reference", "--real-modes", "lora,generate,qlora");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--real-modes: unknown mode 'qlora'") && r.err().contains("or generate"), r.err());
        assertFalse(r.out().contains("real shapes:"), r.out());
    }

    @Test
    void theMedianIsPythonsStatisticsMedian() {
        assertEquals(2.0, dev.keel.bench.TrainBench.median(new double[] {3, 1, 2}));
        assertEquals(2.5, dev.keel.bench.TrainBench.median(new double[] {4, 1, 3, 2}));   // the two middle ones' mean
        assertEquals(7.0, dev.keel.bench.TrainBench.median(new double[] {7}));
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> dev.keel.bench.TrainBench.median(new double[0])).getMessage().contains("no values"));
    }
}
