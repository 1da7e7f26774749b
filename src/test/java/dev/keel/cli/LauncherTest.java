package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.TestSupport;

/**
 * The {@code keel} launcher's native set-up: which OpenBLAS and allocator it preloads for each setting, and
 * that Keel computes the same numbers on the system's OpenBLAS as on the bundled one.
 *
 * <p>The launcher runs from a copy in a temporary folder whose "jar" holds a stand-in {@code Main} that
 * prints the environment and JVM flags it was started with, so the script itself is what is tested (the real
 * jar is built only after the tests).
 */
class LauncherTest {
    /** Where the launcher looks for a system OpenBLAS, in its order. */
    private static final List<Path> SYSTEM_BLAS = List.of(
            Path.of("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"),
            Path.of("/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0"),
            Path.of("/usr/lib64/libopenblasp.so.0"));
    private static final String REAPER_FLAG = "-Djdk.lang.processReaperUseDefaultStackSize=true";

    @TempDir
    static Path tmp;
    private static Path launcher;

    record Run(int code, String out, String err) {}

    @BeforeAll
    static void fakeInstall() throws IOException {
        Path root = Files.createDirectories(tmp.resolve("keel-root"));
        launcher = root.resolve("keel");
        Files.copy(Path.of("keel"), launcher, StandardCopyOption.COPY_ATTRIBUTES);
        Files.createDirectories(root.resolve("target/lib"));
        Path src = Files.createDirectories(tmp.resolve("src/dev/keel/cli")).resolve("Main.java");
        Files.writeString(src, """
                package dev.keel.cli;
                public class Main {
                    public static void main(String[] args) throws Exception {
                        if (args.length > 0 && args[0].equals("sleep")) {
                            System.out.println("PID=" + ProcessHandle.current().pid());
                            System.out.flush();
                            Thread.sleep(600_000);
                        }
                        System.out.println("LD_PRELOAD=" + System.getenv().getOrDefault("LD_PRELOAD", ""));
                        System.out.println("KEEL_BLAS_LIB=" + System.getenv().getOrDefault("KEEL_BLAS_LIB", ""));
                        System.out.println("JVM=" + java.lang.management.ManagementFactory.getRuntimeMXBean()
                                .getInputArguments());
                        System.out.println("ARGS=" + String.join(" ", args));
                        System.out.println("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS"));
                        System.out.println("THP_MEM_ALLOC_ENABLE=" + System.getenv("THP_MEM_ALLOC_ENABLE"));
                        System.out.println("VECTOR=" + ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent());
                    }
                }
                """);
        Path classes = Files.createDirectories(tmp.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertEquals(0, javac.run(null, null, null, "-d", classes.toString(), src.toString()), "javac");
        try (JarOutputStream jar = new JarOutputStream(Files.newOutputStream(root.resolve("target/keel.jar")))) {
            jar.putNextEntry(new JarEntry("dev/keel/cli/Main.class"));
            jar.write(Files.readAllBytes(classes.resolve("dev/keel/cli/Main.class")));
            jar.closeEntry();
        }
    }

    private static Run launch(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", launcher.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        for (String name : List.of("LD_PRELOAD", "KEEL_BLAS", "KEEL_MALLOC", "KEEL_BLAS_LIB", "KEEL_MALLOC_LIB",
                "KEEL_JAVA_OPTS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LOCAL_WORLD_SIZE", "THP_MEM_ALLOC_ENABLE",
                "KEEL_BF16_MV")) {
            pb.environment().remove(name);
        }
        pb.environment().putAll(env);
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the launcher did not finish in 120 s");
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** The first system OpenBLAS the launcher would find, or null. */
    private static Path systemBlas() {
        return SYSTEM_BLAS.stream().filter(Files::isRegularFile).findFirst().orElse(null);
    }

    /** Whether the library resolves to a file named with a version of at least 0.3.21 (libopenblasp-r0.3.21.so). */
    private static boolean measuredVersion(Path lib) throws IOException {
        Matcher m = Pattern.compile("libopenblas[a-z]*-r(\\d+)\\.(\\d+)\\.(\\d+)").matcher(lib.toRealPath().getFileName().toString());
        if (!m.find()) {
            return false;
        }
        int[] v = {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))};
        return v[0] > 0 || v[1] > 3 || (v[1] == 3 && v[2] >= 21);
    }

    private static String line(Run r, String key) {
        return r.out().lines().filter(l -> l.startsWith(key + "=")).findFirst()
                .orElseThrow(() -> new AssertionError("no " + key + " in " + r.out() + r.err())).substring(key.length() + 1);
    }

    private static boolean preloadsOpenBlas(Run r) {
        return line(r, "LD_PRELOAD").contains("openblas");
    }

    @Test
    void byDefaultTheSystemOpenBlasIsPreloadedWhenInstalled() throws Exception {
        Path sys = systemBlas();
        Run r = launch(Map.of(), "generate", "--help");
        assertEquals(0, r.code(), r.err());
        assertEquals("generate --help", line(r, "ARGS"));
        if (sys != null && measuredVersion(sys)) {
            assertEquals(sys.toString(), line(r, "LD_PRELOAD").split(":")[0], r.out());
            assertEquals(sys.toString(), line(r, "KEEL_BLAS_LIB"));
            assertTrue(line(r, "JVM").contains(REAPER_FLAG), r.out());
        } else {
            assertFalse(preloadsOpenBlas(r), r.out());
            assertEquals("", line(r, "KEEL_BLAS_LIB"));
            assertFalse(line(r, "JVM").contains(REAPER_FLAG), r.out());
        }
    }

    @Test
    void underTorchrunTheCoresAreSharedByTheRanksOfTheMachine() throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(String.valueOf(cores), line(launch(Map.of()), "OMP_NUM_THREADS"));
        assertEquals(String.valueOf(Math.max(1, cores / 2)),
                line(launch(Map.of("LOCAL_WORLD_SIZE", "2")), "OMP_NUM_THREADS"));
        assertEquals("1", line(launch(Map.of("LOCAL_WORLD_SIZE", "" + (4 * cores))), "OMP_NUM_THREADS"));
        assertEquals("3", line(launch(Map.of("LOCAL_WORLD_SIZE", "2", "OMP_NUM_THREADS", "3")), "OMP_NUM_THREADS"),
                "a count set by the user stays");
    }

    @Test
    void bundledNeverPreloadsAnOpenBlas() throws Exception {
        Run r = launch(Map.of("KEEL_BLAS", "bundled"));
        assertEquals(0, r.code(), r.err());
        assertFalse(preloadsOpenBlas(r), r.out());
        assertFalse(line(r, "JVM").contains(REAPER_FLAG), r.out());
    }

    @Test
    void systemPreloadsItOrFailsSayingWhatToInstall() throws Exception {
        Path sys = systemBlas();
        Run r = launch(Map.of("KEEL_BLAS", "system"));
        if (sys != null) {
            assertEquals(0, r.code(), r.err());
            assertEquals(sys.toString(), line(r, "KEEL_BLAS_LIB"));
            assertTrue(line(r, "LD_PRELOAD").contains(sys.toString()), r.out());
        } else {
            assertEquals(1, r.code());
            assertTrue(r.err().contains("apt-get install libopenblas0-pthread"), r.err());
            assertEquals("", r.out());
        }
    }

    @Test
    void anUnknownSettingIsAUsageError() throws Exception {
        Run blas = launch(Map.of("KEEL_BLAS", "mkl"));
        assertEquals(2, blas.code());
        assertTrue(blas.err().contains("KEEL_BLAS must be auto, system or bundled, got 'mkl'"), blas.err());
        assertEquals("", blas.out());
    }

    /**
     * libtorch's allocator asks for huge pages for large tensors unless the user said otherwise; not in the bench,
     * whose PyTorch reference cannot, unless the user asks.
     */
    @Test
    void libtorchIsAskedForHugePagesUnlessTheUserSaysNoOrItIsTheBench() throws Exception {
        assertEquals("1", line(launch(Map.of(), "generate"), "THP_MEM_ALLOC_ENABLE"));
        assertEquals("0", line(launch(Map.of("THP_MEM_ALLOC_ENABLE", "0"), "dpo"), "THP_MEM_ALLOC_ENABLE"));
        assertEquals("null", line(launch(Map.of(), "bench", "ppo"), "THP_MEM_ALLOC_ENABLE"));
        assertEquals("1", line(launch(Map.of("THP_MEM_ALLOC_ENABLE", "1"), "bench"), "THP_MEM_ALLOC_ENABLE"));
    }

    @Test
    void theJvmGetsTheVectorModuleForTheBfloat16KernelUnlessTheUserSaysNo() throws Exception {
        Run on = launch(Map.of(), "generate");
        assertEquals("true", line(on, "VECTOR"), on.out());
        assertTrue(on.err().contains("WARNING: Using incubator modules: jdk.incubator.vector"), on.err());
        Run off = launch(Map.of("KEEL_BF16_MV", "0"), "generate");
        assertEquals("false", line(off, "VECTOR"), off.out());
        assertFalse(off.err().contains("incubator"), off.err());
    }

    @Test
    void keelMallocSystemKeepsGlibcMalloc() throws Exception {
        Run r = launch(Map.of("KEEL_MALLOC", "system", "KEEL_BLAS", "bundled"));
        assertEquals(0, r.code(), r.err());
        assertEquals("", line(r, "LD_PRELOAD"));
    }

    /**
     * kill -TERM of the launcher reaches the JVM (the launcher execs it, so they are one process): it is gone within
     * seconds. Before, the JVM ran on, orphaned and writing. Copies of the jar left by killed runs are removed.
     */
    @Test
    void sigtermToTheLauncherStopsTheJvmWithinSeconds() throws Exception {
        Path tmpDir = Files.createDirectories(tmp.resolve("launcher-tmp"));
        Path stale = Files.writeString(tmpDir.resolve("keel-999999999-abcdef.jar"), "left by a killed run");
        ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "sleep");
        pb.environment().put("TMPDIR", tmpDir.toString());
        pb.environment().put("KEEL_BLAS", "bundled");
        Path out = tmp.resolve("sleep-out.txt");
        pb.redirectOutput(out.toFile()).redirectError(tmp.resolve("sleep-err.txt").toFile());
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.readString(out).contains("PID=")) {
            assertTrue(p.isAlive() && System.nanoTime() < deadline, "no PID line: " + Files.readString(out)
                    + Files.readString(tmp.resolve("sleep-err.txt")));
            Thread.sleep(20);
        }
        long jvm = Long.parseLong(Files.readString(out).replaceAll("(?s).*PID=(\\d+).*", "$1"));
        assertFalse(Files.exists(stale), "the stale copy of a dead run is removed");
        p.destroy(); // SIGTERM to the launcher's pid
        long t0 = System.nanoTime();
        while (ProcessHandle.of(jvm).map(ProcessHandle::isAlive).orElse(false)) {
            if (System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(10)) {
                ProcessHandle.of(jvm).ifPresent(ProcessHandle::destroyForcibly);
                throw new AssertionError("the JVM (pid " + jvm + ") still runs 10 s after SIGTERM to the launcher");
            }
            Thread.sleep(20);
        }
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(p.pid(), jvm, "the launcher execs the JVM: one process");
    }

    /** The real Main deletes the launcher's private copy of the jar (keel.jar.copy) when its JVM exits. */
    @Test
    void theJvmDeletesTheLaunchersCopyOfTheJarWhenItExits() throws Exception {
        Path copy = Files.writeString(tmp.resolve("keel-1-copy.jar"), "a copy");
        TestSupport.Run r = TestSupport.freshJvm(tmp, List.of("-Dkeel.jar.copy=" + copy), Map.of(), "--help");
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(copy), "the copy is gone after the JVM exits");
    }

    /** keel's real {@code Main} in a new JVM, with {@code preload} (or nothing) as LD_PRELOAD. */
    private static TestSupport.Run freshJvm(Path preload, String... args) throws IOException, InterruptedException {
        Map<String, String> env = new java.util.HashMap<>();
        env.put("LD_PRELOAD", preload == null ? null : preload.toString());
        return TestSupport.freshJvm(tmp, List.of(REAPER_FLAG), env, args);
    }

    /**
     * The real Keel in a new JVM, with and without the system OpenBLAS preloaded as the launcher does: the same
     * log-probabilities (to float32 rounding), and {@code --version} names the library it ran on. Needs the
     * system library (Debian/Ubuntu: libopenblas0-pthread, which .ci/run installs).
     */
    @Test
    void theSystemOpenBlasGivesTheSameLogProbsAsTheBundledOne() throws Exception {
        Path sys = systemBlas();
        Assumptions.assumeTrue(sys != null, "no system OpenBLAS at " + SYSTEM_BLAS
                + ": install libopenblas0-pthread (.ci/run does) to compare it with the bundled one");
        Path data = tmp.resolve("records.jsonl");
        Files.writeString(data, """
                {"prompt_ids": [1, 2], "completion_ids": [3, 4, 5]}
                {"prompt_ids": [7, 8, 9, 10, 11], "completion_ids": [12, 13, 14, 15, 16, 17, 18, 19]}
                {"prompt_ids": [20], "completion_ids": [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]}
                """);
        for (String model : List.of("parity/llama3-rope-sharded", "parity/gpt2-tiny")) {
            String m = TestSupport.fixture(model).toString();
            TestSupport.Run bundled = freshJvm(null, "logprobs", "--model", m, "--data", data.toString());
            TestSupport.Run system = freshJvm(sys, "logprobs", "--model", m, "--data", data.toString());
            assertEquals(0, bundled.code(), bundled.err());
            assertEquals(0, system.code(), system.err());
            List<JsonNode> a = bundled.out().lines().map(TestSupport::parse).toList();
            List<JsonNode> b = system.out().lines().map(TestSupport::parse).toList();
            assertEquals(3, a.size(), bundled.out());
            assertEquals(a.size(), b.size(), system.out());
            for (int i = 0; i < a.size(); i++) {
                double x = a.get(i).get("logprob").asDouble();
                double y = b.get(i).get("logprob").asDouble();
                assertEquals(x, y, 1e-4 * Math.max(1, Math.abs(x)), model + " record " + (i + 1));
            }
        }
        TestSupport.Run version = freshJvm(sys, "--version");
        assertTrue(version.out().contains("OpenBLAS system (" + sys.toRealPath()), version.out());
        TestSupport.Run plain = freshJvm(null, "--version");
        assertTrue(plain.out().contains("OpenBLAS bundled"), plain.out());
    }
}
