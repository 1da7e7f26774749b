package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.cli.Main;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

/**
 * PPO, RLOO, GRPO and online DPO write checkpoints and resume exactly: a run stopped after a checkpoint (by SIGKILL, or
 * resumed from its middle checkpoint) ends with the weights and the metrics of the uninterrupted run.
 */
class RlResumeTest {
    @TempDir
    static Path tmp;

    static Path policy;
    static Path prompts;

    @BeforeAll
    static void start() throws IOException {
        TestSupport.init();
        policy = TinyModels.llama(tmp.resolve("base"), 3);
        StringBuilder ps = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            ps.append("{\"prompt\": \"").append(s, 0, s.lastIndexOf(' ')).append("\"}\n");
        }
        prompts = tmp.resolve("prompts.jsonl");
        Files.writeString(prompts, ps);
    }

    private static List<String> common(String algo, int iterations, String... extra) {
        List<String> a = new ArrayList<>(List.of(algo, "--policy", policy.toString(), "--reward", "builtin:count:great",
                "--prompts", prompts.toString(), "--max-new-tokens", "6", "--temperature", "1.0", "--lr", "3e-3",
                "--lr-scheduler", "cosine", "--batch-size", "4", "--iterations", "" + iterations, "--save-every", "2",
                "--save-total-limit", "2"));
        a.addAll(List.of(extra));
        return a;
    }

    private static TestSupport.Run keel(List<String> args, String... more) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of(more));
        return TestSupport.keel(a.toArray(new String[0]));
    }

    @Test
    void ppoKilledWithSigkillAndResumedEndsWithTheUninterruptedWeightsAndMetrics() throws Exception {
        // PPO holds the most state: the value model, an EMA reference that moves and an adaptive KL coefficient
        List<String> args = common("ppo", 30, "--ref-ema-decay", "0.9", "--kl-target", "1.0", "--mini-batch-size", "2");
        Path straight = tmp.resolve("ppo-straight");
        TestSupport.Run r = keel(args, "--out", straight.toString());
        assertEquals(0, r.code(), r.err());

        Path killed = tmp.resolve("ppo-killed");
        Process p = child(args, "--out", killed.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!Files.exists(killed.resolve("checkpoint-4")) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the child finished before it could be killed; " + Files.readString(tmp.resolve("child.log")));
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
        assertFalse(Files.exists(killed.resolve("model.safetensors")), "killed before the end");
        assertTrue(Files.isDirectory(killed.resolve("checkpoint-4").resolve("value_model"))
                && Files.isDirectory(killed.resolve("checkpoint-4").resolve("ref_model")), "value model and EMA reference saved");

        TestSupport.Run resumed = keel(args, "--out", killed.toString(), "--resume");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resuming from"), resumed.err());
        assertSameRun(straight, killed, 30);
    }

    @Test
    void rlooGrpoAndOnlineDpoResumedFromTheirMiddleCheckpointEndAsTheUninterruptedRun() throws Exception {
        for (String algo : List.of("rloo", "grpo", "online-dpo")) {
            List<String> args = algo.equals("online-dpo") ? common(algo, 6)
                    : common(algo, 6, "--num-generations", "2");
            Path run = tmp.resolve(algo);
            TestSupport.Run r = keel(args, "--out", run.toString());
            assertEquals(0, r.code(), r.err());
            Path straight = Files.createDirectories(tmp.resolve(algo + "-straight"));
            for (String f : List.of("model.safetensors", "metrics.jsonl")) {
                Files.copy(run.resolve(f), straight.resolve(f));
            }
            // checkpoints at 2 and 4 (none at the end); resuming takes the newest, 4, and runs 5 and 6 again
            assertTrue(Files.isDirectory(run.resolve("checkpoint-4")) && !Files.exists(run.resolve("checkpoint-6")));
            TestSupport.Run resumed = keel(args, "--out", run.toString(), "--resume");
            assertEquals(0, resumed.code(), resumed.err());
            assertTrue(resumed.err().contains("(iteration 4)"), resumed.err());
            assertSameRun(straight, run, 6);
        }
    }

    @Test
    void resumingWithAnotherSeedIsRefusedByName() {
        List<String> args = common("rloo", 3, "--num-generations", "2");
        Path run = tmp.resolve("seeded");
        assertEquals(0, keel(args, "--out", run.toString()).code());
        TestSupport.Run r = keel(args, "--out", run.toString(), "--resume", "--seed", "7");
        assertTrue(r.code() != 0, r.err());
        assertTrue(r.err().contains("checkpoint-2") && r.err().contains("--seed 42") && r.err().contains("resume with the same settings"),
                r.err());
    }

    @Test
    void withoutResumeAFolderWithCheckpointsIsNotOverwritten() {
        List<String> args = common("grpo", 3, "--num-generations", "2");
        Path run = tmp.resolve("kept");
        assertEquals(0, keel(args, "--out", run.toString()).code());
        TestSupport.Run r = keel(args, "--out", run.toString());
        assertTrue(r.code() != 0 && r.err().contains("pass --resume"), r.err());
    }

    private static void assertSameRun(Path a, Path b, int iterations) throws IOException {
        Map<String, Tensor> x = weights(a);
        Map<String, Tensor> y = weights(b);
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) {
            float[] u = Tensors.toFloats(x.get(k));
            float[] v = Tensors.toFloats(y.get(k));
            for (int i = 0; i < u.length; i++) {
                assertEquals(u[i], v[i], 1e-6, k + "[" + i + "]");
            }
        }
        List<JsonNode> ma = metrics(a);
        List<JsonNode> mb = metrics(b);
        assertEquals(iterations, mb.size(), "each iteration logged once");
        for (int i = 0; i < ma.size(); i++) {
            for (String k : List.of("step", "episode", "objective/scores", "objective/kl", "loss/policy_avg", "kl_coef", "lr")) {
                assertEquals(ma.get(i).get(k).asDouble(), mb.get(i).get(k).asDouble(), 1e-6, "iteration " + (i + 1) + ": " + k);
            }
        }
    }

    private static Map<String, Tensor> weights(Path dir) {
        Safetensors.Header h = Safetensors.readHeader(dir.resolve("model.safetensors"));
        Map<String, Tensor> m = new TreeMap<>();
        for (String n : h.entries().keySet()) {
            m.put(n, Safetensors.read(h, n));
        }
        return m;
    }

    private static List<JsonNode> metrics(Path dir) throws IOException {
        List<JsonNode> m = new ArrayList<>();
        for (String s : Files.readAllLines(dir.resolve("metrics.jsonl"), StandardCharsets.UTF_8)) {
            m.add(TestSupport.parse(s));
        }
        return m;
    }

    private static Process child(List<String> args, String... more) throws IOException {
        // this JVM's flags (its --add-modules jdk.incubator.vector above all): the killed run's first iterations must
        // decode on the same routes as the in-process runs it is compared with, as two runs of ./keel would
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        cmd.addAll(List.of(more));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", dev.keel.runtime.Natives.threadCount() + "");
        pb.redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile());
        return pb.start();
    }
}
