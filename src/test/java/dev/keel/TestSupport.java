package dev.keel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.runtime.Natives;

/** Shared test helpers: native start-up, fixture paths (a missing fixture fails, never skips). */
public final class TestSupport {
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final Path PARITY = Path.of("src/test/fixtures/parity");
    public static final List<String> PARITY_MODELS = List.of("gpt2-tiny", "gpt2-tiny-f16", "llama3-rope-sharded",
            "qwen2-tiny-bf16", "mistral-tiny-headdim");

    static {
        Natives.init();
    }

    private TestSupport() {}

    /** Call from a test class's static initialiser or @BeforeAll before touching libtorch. */
    public static void init() {
        // the static initialiser does the work
    }

    public static Path fixture(String relative) {
        Path p = Path.of("src/test/fixtures").resolve(relative);
        if (!Files.exists(p)) {
            throw new AssertionError("missing test fixture " + p.toAbsolutePath()
                    + " (regenerate with scripts/reference/make_parity_fixtures.py)");
        }
        return p;
    }

    public static JsonNode readJson(Path p) {
        try {
            return JSON.readTree(Files.readString(p));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The result of a command line run in-process. */
    public record Run(int code, String out, String err) {}

    /** Runs {@code keel ARGS} in this JVM, capturing its output. */
    public static Run keel(String... args) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = dev.keel.cli.Main.run(args, new java.io.PrintWriter(out, true), new java.io.PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    /** SFT examples of {@code data} tokenized with the tokenizer of {@code model}. */
    public static List<dev.keel.data.LmExample> tokenized(Path model, Path data) {
        try (dev.keel.tokenizer.Tokenizer tok = dev.keel.tokenizer.Tokenizer.load(model)) {
            return dev.keel.data.SftData.read(data, tok, 100_000, 64, dev.keel.data.Truncation.KEEP_START, false, null)
                    .examples();
        }
    }

    public static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static long[] longs(JsonNode arr) {
        long[] out = new long[arr.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = arr.get(i).asLong();
        }
        return out;
    }

    public static List<long[]> longRows(JsonNode arr) {
        List<long[]> out = new ArrayList<>();
        arr.forEach(r -> out.add(longs(r)));
        return out;
    }

    /**
     * Runs keel's {@code Main} in a new JVM on this test's class path (OMP_WAIT_POLICY=PASSIVE, 2 threads,
     * offline), as a user's process would start: {@code jvmFlags} go before the class name, {@code env} is
     * added to the environment (a null value removes the variable), and output is captured through files in
     * {@code dir}. Fails when it runs longer than 300 s.
     */
    public static Run freshJvm(Path dir, List<String> jvmFlags, java.util.Map<String, String> env, String... args)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                dev.keel.cli.Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", "2");
        env.forEach((k, v) -> {
            if (v == null) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        Path out = dir.resolve("fresh-jvm-out.txt");
        Path err = dir.resolve("fresh-jvm-err.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        if (!p.waitFor(300, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("keel did not finish in 300 s: " + String.join(" ", args));
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }
}
