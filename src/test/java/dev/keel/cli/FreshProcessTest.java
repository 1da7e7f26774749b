package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

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

    private TestSupport.Run keel(Path cache, String... args) throws IOException, InterruptedException {
        return TestSupport.freshJvm(tmp, List.of("-Dorg.bytedeco.javacpp.cachedir=" + cache), Map.of(), args);
    }

    @Test
    void firstRunWithAnEmptyNativeCacheScoresAndBadInputExitsNonZero() throws Exception {
        Path cache = Files.createDirectories(tmp.resolve("javacpp-cache"));
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt_ids\": [1, 2], \"completion_ids\": [3, 4, 5]}\n");
        String model = TestSupport.fixture("parity/llama3-rope-sharded").toString();
        TestSupport.Run ok = keel(cache, "logprobs", "--model", model, "--data", data.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("\"num_tokens\":3"), ok.out());
        try (var files = Files.walk(cache)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("libtorch_cpu")),
                    "libtorch was extracted into the fresh cache");
        }
        Files.writeString(data, "not json\n");
        TestSupport.Run bad = keel(cache, "logprobs", "--model", model, "--data", data.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains(data + ":1"), bad.err());
        assertEquals("", bad.out());
    }
}
