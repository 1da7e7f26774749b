package dev.keel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code examples/} module, compiled against this build's classes and run as a user's program would run
 * it: Keel's public API is what it uses, so an API change that breaks it fails here.
 */
class ExamplesTest {
    @TempDir
    static Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theDpoExampleCompilesTrainsAndSamples() throws Exception {
        Path src = Path.of("examples/src/main/java");
        assertTrue(Files.isDirectory(src), "examples/ is missing");
        List<String> sources;
        try (Stream<Path> s = Files.walk(src)) {
            sources = s.filter(p -> p.toString().endsWith(".java")).map(Path::toString).toList();
        }
        Path classes = Files.createDirectories(tmp.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        String[] args = Stream.concat(Stream.of("-d", classes.toString(), "-cp", System.getProperty("java.class.path"),
                "--release", "17", "-Xlint:all,-path", "-Werror"), sources.stream()).toArray(String[]::new);
        int rc = javac.run(null, diagnostics, diagnostics, args);
        assertEquals(0, rc, diagnostics.toString(StandardCharsets.UTF_8));

        Path model = TinyModels.llama(tmp.resolve("model"), 4);
        Path pairs = tmp.resolve("pairs.jsonl");
        StringBuilder sb = new StringBuilder();
        Random r = new Random(1);
        String[] others = {"terrible", "awful", "boring", "bad"};
        for (String sentence : TinyModels.sentences()) {
            String prompt = sentence.substring(0, sentence.lastIndexOf(' '));
            sb.append("{\"prompt\": \"").append(prompt).append("\", \"chosen\": \" great.\", \"rejected\": \" ")
                    .append(others[r.nextInt(others.length)]).append(".\"}\n");
        }
        Files.writeString(pairs, sb);
        Path out = tmp.resolve("out");

        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            loader.loadClass("dev.keel.examples.DpoExample").getMethod("main", String[].class)
                    .invoke(null, (Object) new String[] {model.toString(), pairs.toString(), out.toString(), "The"});
        } finally {
            System.setOut(stdout);
        }
        String text = printed.toString(StandardCharsets.UTF_8);
        System.out.println(text);
        assertTrue(text.contains("trained ") && text.contains("rewards/accuracies"), text);
        assertTrue(text.lines().anyMatch(l -> l.startsWith("sample: The")), text);
        assertTrue(Files.exists(out.resolve("model.safetensors")) && Files.exists(out.resolve("metrics.jsonl")));
    }
}
