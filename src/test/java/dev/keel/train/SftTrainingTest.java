package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.cli.Main;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

class SftTrainingTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    record Run(int code, String out, String err) {}

    static Run keel(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    /** Prompt/completion pairs with a learnable rule: the completion repeats the adjective of the prompt. */
    private Path data() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            int cut = s.lastIndexOf(' ');
            sb.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"completion\": \"")
                    .append(s.substring(cut)).append("\"}\n");
        }
        Path f = tmp.resolve("sft.jsonl");
        Files.writeString(f, sb);
        return f;
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(TestSupport.parse(s));
        }
        return l;
    }

    @Test
    void completionLossFallsWellBelowItsStart() throws IOException {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("sft-out");
        Run r = keel("sft", "--model", model.toString(), "--data", data().toString(), "--out", out.toString(),
                "--epochs", "6", "--batch-size", "16", "--lr", "3e-3", "--log-every", "1", "--max-length", "32",
                "--eval-fraction", "0.1");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> m = metrics(out);
        double first = m.get(0).get("loss").asDouble();
        double last = m.stream().filter(n -> n.has("loss")).reduce((a, b) -> b).orElseThrow().get("loss").asDouble();
        assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
        assertTrue(m.stream().anyMatch(n -> n.has("eval_loss")), "held-out evaluation logged");
        for (String k : List.of("step", "epoch", "lr", "loss", "grad_norm", "mean_token_accuracy", "num_tokens")) {
            assertTrue(m.get(0).has(k), "metrics.jsonl lacks " + k);
        }
        assertTrue(Files.exists(out.resolve("run_config.json")));
        assertTrue(Files.exists(out.resolve("tokenizer.json")), "tokenizer copied next to the model");
        ModelFiles.load(out, null, null);
    }

    @Test
    void aConfigFileSetsOptionsAndFlagsOverrideIt() throws IOException {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("cfg-out");
        Path cfg = tmp.resolve("run.yaml");
        Files.writeString(cfg, "model: " + model + "\ndata: " + data() + "\nout: " + out + "\nmax_steps: 3\n"
                + "batch-size: 4\nlr: 0.002\nlr-scheduler: constant\nlog-every: 1\n");
        Run r = keel("sft", "--config", cfg.toString(), "--lr", "0.001");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> m = metrics(out);
        assertEquals(3, m.size());
        assertEquals(0.001, m.get(2).get("lr").asDouble(), 1e-12, "the flag overrides the file");
        Files.writeString(cfg, "model: " + model + "\nlearning_rate: 0.1\n");
        Run bad = keel("sft", "--config", cfg.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains(cfg.toString()) && bad.err().contains("'learning_rate'"), bad.err());
    }

    @Test
    void conversationsTrainOnAssistantTurns() throws IOException {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) TestSupport.readJson(model.resolve("tokenizer_config.json"));
        cfg.put("chat_template", TinyModels.CHAT_TEMPLATE);
        Files.writeString(model.resolve("tokenizer_config.json"), cfg.toString());
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            int cut = s.lastIndexOf(' ');
            sb.append("{\"messages\": [{\"role\": \"user\", \"content\": \"").append(s, 0, cut)
                    .append("\"}, {\"role\": \"assistant\", \"content\": \"").append(s.substring(cut + 1)).append("\"}]}\n");
        }
        Path data = tmp.resolve("chat.jsonl");
        Files.writeString(data, sb);
        Path out = tmp.resolve("chat-out");
        Run r = keel("sft", "--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--log-every", "1");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> m = metrics(out);
        assertTrue(m.get(m.size() - 1).get("loss").asDouble() < 0.5 * m.get(0).get("loss").asDouble(), m.toString());
        Run g = keel("generate", "--model", out.toString(), "--chat", "--prompt", "The movie was", "--temperature", "0",
                "--max-new-tokens", "4");
        assertEquals(0, g.code(), g.err());
    }

    @Test
    void badInputStopsBeforeTrainingAndLeavesNoOutputFolder() throws IOException {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": \"a\"}\n");
        Path out = tmp.resolve("never");
        Run r = keel("sft", "--model", model.toString(), "--data", bad.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":2") && r.err().contains("'completion'"), r.err());
        assertFalse(Files.exists(out), "no output folder for a run that failed validation");
    }

    @Test
    void aNonFiniteLossStopsWithAClearMessageAndKeepsTheLastCheckpoint() throws IOException {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("nan");
        Run r = keel("sft", "--model", model.toString(), "--data", data().toString(), "--out", out.toString(),
                "--max-steps", "60", "--batch-size", "4", "--lr", "1e12", "--max-grad-norm", "0", "--save-every", "1",
                "--save-total-limit", "1", "--lr-scheduler", "constant");
        assertEquals(1, r.code(), r.out());
        assertTrue(r.err().contains("loss is") && r.err().contains("stopping"), r.err());
        Path last = Checkpoints.latest(out);
        assertTrue(last != null && r.err().contains(last.getFileName().toString()), r.err());
        ModelFiles.load(last, null, null); // intact: it loads
    }

    /**
     * Runs 1,000 small SFT steps in a fresh JVM (so earlier tests' heap does not blur the reading) and
     * compares the resident set size after step 100 and after step 1,000.
     */
    @Test
    void nativeMemoryStaysFlatOverAThousandSteps() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        // a fixed, pre-touched Java heap: RSS then moves only with native memory (and JIT code), not with heap sizing
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch",
                "-cp", System.getProperty("java.class.path"), MemoryProbe.class.getName(), model.toString(),
                data().toString(), tmp.resolve("mem").toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        long at100 = -1;
        long at1000 = -1;
        for (String line : out.split("\n")) {
            if (line.startsWith("rss ")) {
                String[] f = line.split(" ");
                if (f[1].equals("100")) {
                    at100 = Long.parseLong(f[2]);
                } else if (f[1].equals("1000")) {
                    at1000 = Long.parseLong(f[2]);
                }
            }
        }
        assertTrue(at100 > 0 && at1000 > 0, out);
        assertTrue(at1000 <= at100 * 1.10, "RSS grew from " + at100 + " kB at step 100 to " + at1000 + " kB at step 1000");
    }

    /** The child of the memory test: 1,000 SFT steps of batch 2, printing "rss STEP KB" at 100 and 1,000. */
    public static final class MemoryProbe {
        public static void main(String[] a) throws IOException {
            TestSupport.init();
            Path model = Path.of(a[0]);
            var m = ModelFiles.load(model, null, null);
            Path out = Files.createDirectories(Path.of(a[2]));
            new TrainingLoop<>(new CausalLMState(m, model), new LmTask(m, 0), OptimConfig.defaults(1e-3),
                    new TrainConfig(1, 1000, 2, 1, 1, 50, 0, 0, 1, false), out).onLog(l -> {
                        long step = (Long) l.get("step");
                        if (step % 100 == 0) {
                            System.out.println("rss " + step + " " + rssKb());
                        }
                    }).run(TestSupport.tokenized(model, Path.of(a[1])), List.of(), false);
        }
    }

    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return -1;
    }

    @Test
    void aRunKilledWithSigkillAndResumedEndsWithTheUninterruptedWeights() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path data = data();
        String[] common = {"sft", "--model", model.toString(), "--data", data.toString(), "--max-steps", "24",
            "--batch-size", "4", "--lr", "1e-3", "--save-every", "3", "--save-total-limit", "3", "--log-every", "2",
            "--lr-scheduler", "cosine", "--warmup-steps", "3"};
        Path straight = tmp.resolve("straight");
        Run r = keel(concat(common, "--out", straight.toString()));
        assertEquals(0, r.code(), r.err());

        Path killed = tmp.resolve("killed");
        Process p = child(concat(common, "--out", killed.toString()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(killed.resolve("checkpoint-9")) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the child finished before it could be killed; " + err(p));
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
        assertFalse(Files.exists(killed.resolve("model.safetensors")), "killed before the end");

        Run resumed = keel(concat(common, "--out", killed.toString(), "--resume"));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resuming from"), resumed.err());
        Map<String, Tensor> a = weights(straight);
        Map<String, Tensor> b = weights(killed);
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            float[] x = Tensors.toFloats(a.get(k));
            float[] y = Tensors.toFloats(b.get(k));
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-6, k + "[" + i + "]");
            }
        }
        // metrics.jsonl reads as one run: each logged step once, with the same averaged losses, although the
        // checkpoint (every 3 steps) falls between two metrics lines (every 2)
        List<JsonNode> a2 = metrics(straight).stream().filter(n -> n.has("loss")).toList();
        List<JsonNode> b2 = metrics(killed).stream().filter(n -> n.has("loss")).toList();
        assertEquals(12, b2.size(), b2.toString());
        for (int i = 0; i < a2.size(); i++) {
            assertEquals(a2.get(i).get("step").asLong(), b2.get(i).get("step").asLong());
            assertEquals(a2.get(i).get("loss").asDouble(), b2.get(i).get("loss").asDouble(), 1e-6, "loss at " + a2.get(i).get("step"));
        }
    }

    private static Map<String, Tensor> weights(Path dir) {
        Safetensors.Header h = Safetensors.readHeader(dir.resolve("model.safetensors"));
        Map<String, Tensor> m = new java.util.TreeMap<>();
        for (String n : h.entries().keySet()) {
            m.put(n, Safetensors.read(h, n));
        }
        return m;
    }

    private Process child(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", dev.keel.runtime.Natives.threadCount() + "");
        pb.redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile());
        return pb.start();
    }

    private String err(Process p) throws IOException {
        return Files.readString(tmp.resolve("child.log"), StandardCharsets.UTF_8);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
