package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;

/**
 * Runs keel in a new JVM with an empty JavaCPP cache, as on a user's first run. Where Debian's libtorch is
 * on the library path, lazy one-by-one extraction let the dynamic linker pick the system's libtorch and
 * crash (design.md); {@code Natives.init} extracts everything first. Also checks exit codes.
 */
class FreshProcessTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    private Run keel(Path cache, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dorg.bytedeco.javacpp.cachedir=" + cache, "-Dai.djl.offline=true",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", "2");
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "keel did not finish in 300 s");
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void firstRunWithAnEmptyNativeCacheScoresAndBadInputExitsNonZero() throws Exception {
        Path cache = Files.createDirectories(tmp.resolve("javacpp-cache"));
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt_ids\": [1, 2], \"completion_ids\": [3, 4, 5]}\n");
        String model = TestSupport.fixture("parity/llama3-rope-sharded").toString();
        Run ok = keel(cache, "logprobs", "--model", model, "--data", data.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("\"num_tokens\":3"), ok.out());
        try (var files = Files.walk(cache)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("libtorch_cpu")),
                    "libtorch was extracted into the fresh cache");
        }
        Files.writeString(data, "not json\n");
        Run bad = keel(cache, "logprobs", "--model", model, "--data", data.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains(data + ":1"), bad.err());
        assertEquals("", bad.out());
    }
}
