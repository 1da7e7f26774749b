package dev.keel.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;

/**
 * Data-parallel training on Gloo, with every rank a JVM of its own on 127.0.0.1: two ranks with per-rank batch B
 * end where one process with batch 2B ends, checkpoints move between the two layouts, and a killed rank stops
 * the other within the time-out with an error naming it.
 */
class DataParallelTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    static Path tmp;
    private static Path model;

    @BeforeAll
    static void tinyModel() {
        TestSupport.init();
        model = TinyModels.llama(tmp.resolve("base"), 3);
    }

    /** Prompt/completion records: the completion is the sentence's last word. */
    private static Path sftData() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            int cut = s.lastIndexOf(' ');
            sb.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"completion\": \"").append(s.substring(cut))
                    .append("\"}\n");
        }
        return Files.writeString(tmp.resolve("sft.jsonl"), sb);
    }

    private static Path pairs() throws IOException {
        String[] others = {"terrible", "awful", "fine", "boring", "bad"};
        Random r = new Random(5);
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences().subList(0, 40)) {
            sb.append("{\"prompt\": \"").append(s, 0, s.lastIndexOf(' ')).append("\", \"chosen\": \" great.\", ")
                    .append("\"rejected\": \" ").append(others[r.nextInt(others.length)]).append(".\"}\n");
        }
        return Files.writeString(tmp.resolve("pairs.jsonl"), sb);
    }

    /** SFT for 4 steps, a checkpoint at step 2. */
    private static String[] sft(Path out, int batch, String... more) throws IOException {
        return sft(out, batch, 4, 2, 60, more);
    }

    private static String[] sft(Path out, int batch, long steps, int saveEvery, int timeout, String... more)
            throws IOException {
        List<String> a = new ArrayList<>(List.of("sft", "--model", model.toString(), "--data", sftData().toString(),
                "--out", out.toString(), "--max-steps", "" + steps, "--batch-size", "" + batch, "--lr", "3e-3",
                "--max-length", "32", "--log-every", "1", "--save-every", "" + saveEvery, "--dist-timeout", "" + timeout));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    private static void ok(List<Ranks.Run> runs) {
        for (int r = 0; r < runs.size(); r++) {
            assertEquals(0, runs.get(r).code(), "rank " + r + ": " + runs.get(r).err());
        }
    }

    private static List<Double> losses(Path out) throws IOException {
        List<Double> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = TestSupport.parse(s);
            if (n.has("loss")) {
                l.add(n.get("loss").asDouble());
            }
        }
        return l;
    }

    @Test
    void sftOnTwoRanksEndsWithTheWeightsOfOneProcessAndCheckpointsMoveBetweenThem() throws Exception {
        Path one = tmp.resolve("sft-1");
        Path two = tmp.resolve("sft-2");
        ok(Ranks.run(tmp.resolve("logs-sft-1"), 1, sft(one, 16)));
        ok(Ranks.run(tmp.resolve("logs-sft-2"), 2, sft(two, 8)));
        assertTrue(Ranks.maxDifference(one, two) < TOLERANCE, "weights differ by " + Ranks.maxDifference(one, two));
        List<Double> a = losses(one);
        List<Double> b = losses(two);
        assertEquals(4, b.size(), "rank 0 alone logs each step once");
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i), b.get(i), TOLERANCE, "the logged loss of step " + (i + 1) + " is the global batch's");
        }
        // a 2-rank checkpoint resumed by one process, and the reverse, end at the same weights
        Path fromTwo = resumeFolder(two, "sft-resume-1");
        ok(Ranks.run(tmp.resolve("logs-sft-r1"), 1, sft(fromTwo, 16, "--resume")));
        assertTrue(Ranks.maxDifference(one, fromTwo) < TOLERANCE, "1 rank resuming a 2-rank checkpoint");
        Path fromOne = resumeFolder(one, "sft-resume-2");
        ok(Ranks.run(tmp.resolve("logs-sft-r2"), 2, sft(fromOne, 8, "--resume")));
        assertTrue(Ranks.maxDifference(one, fromOne) < TOLERANCE, "2 ranks resuming a 1-rank checkpoint");
    }

    /** A new run folder holding only {@code run}'s checkpoint-2 (as if the run had stopped there). */
    private static Path resumeFolder(Path run, String name) throws IOException {
        Path dst = Files.createDirectories(tmp.resolve(name));
        Path src = run.resolve("checkpoint-2");
        try (Stream<Path> files = Files.walk(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, dst.resolve("checkpoint-2").resolve(src.relativize(f).toString()));
            }
        }
        return dst;
    }

    @Test
    void dpoOnTwoRanksEndsWithTheWeightsOfOneProcessWithTheReferencePassSharded() throws Exception {
        Path one = tmp.resolve("dpo-1");
        Path two = tmp.resolve("dpo-2");
        String data = pairs().toString();
        ok(Ranks.run(tmp.resolve("logs-dpo-1"), 1, "dpo", "--model", model.toString(), "--data", data, "--out",
                one.toString(), "--max-steps", "3", "--batch-size", "8", "--lr", "3e-3", "--log-every", "1"));
        // the two ranks started by keel launch, as a user would
        TestSupport.Run launched = TestSupport.freshJvm(Files.createDirectories(tmp.resolve("logs-dpo-2")), List.of(),
                java.util.Map.of("KEEL_THREADS", "1"), "launch", "--nproc", "2", "--", "dpo", "--model", model.toString(),
                "--data", data, "--out", two.toString(), "--max-steps", "3", "--batch-size", "4", "--lr", "3e-3",
                "--log-every", "1");
        assertEquals(0, launched.code(), launched.err());
        assertTrue(Ranks.maxDifference(one, two) < TOLERANCE, "weights differ by " + Ranks.maxDifference(one, two));
        JsonNode refOne = TestSupport.readJson(one.resolve("reference_logps.json"));
        JsonNode refTwo = TestSupport.readJson(two.resolve("reference_logps.json"));
        assertEquals(40, refTwo.size());
        for (int i = 0; i < 40; i++) {
            for (int k = 0; k < 2; k++) {
                assertEquals(refOne.get(i).get(k).asDouble(), refTwo.get(i).get(k).asDouble(), 1e-4,
                        "reference log-prob " + i + "/" + k + " (each rank scored half the pairs)");
            }
        }
    }

    /**
     * PPO on the tiny model with a reward model two steps into training (its scores differ from completion to
     * completion; a constant reward would leave whitened float noise as the advantages, which no two batch
     * layouts reproduce), 3 iterations of 4 epochs of 2 minibatches.
     */
    private static String[] ppo(Path out, int batch, int miniBatch) throws IOException {
        StringBuilder ps = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            ps.append("{\"prompt\": \"").append(s, 0, s.lastIndexOf(' ')).append("\"}\n");
        }
        Path prompts = Files.writeString(tmp.resolve("prompts.jsonl"), ps);
        Path rm = tmp.resolve("rm");
        if (!Files.exists(rm.resolve("model.safetensors"))) {
            TestSupport.Run r = TestSupport.keel("reward", "--model", model.toString(), "--data", pairs().toString(),
                    "--out", rm.toString(), "--max-steps", "2", "--batch-size", "8", "--lr", "1e-3");
            assertEquals(0, r.code(), r.err());
        }
        return new String[] {"ppo", "--policy", model.toString(), "--reward", rm.toString(), "--prompts",
            prompts.toString(), "--max-new-tokens", "6", "--temperature", "1.0", "--lr", "3e-3", "--iterations", "3",
            "--batch-size", "" + batch, "--mini-batch-size", "" + miniBatch, "--out", out.toString(),
            "--dist-timeout", "60"};
    }

    @Test
    void ppoOnTwoRanksSamplesScoresAndEndsAsOneProcessWithTheDoubleBatch() throws Exception {
        Path one = tmp.resolve("ppo-1");
        Path two = tmp.resolve("ppo-2");
        ok(Ranks.run(tmp.resolve("logs-ppo-1"), 1, ppo(one, 8, 4)));
        ok(Ranks.run(tmp.resolve("logs-ppo-2"), 2, ppo(two, 4, 2)));
        assertTrue(Ranks.maxDifference(one, two) < TOLERANCE, "weights differ by " + Ranks.maxDifference(one, two));
        List<String> a = Files.readAllLines(one.resolve("metrics.jsonl"));
        List<String> b = Files.readAllLines(two.resolve("metrics.jsonl"));
        assertEquals(3, b.size(), "rank 0 alone logs each iteration once");
        for (int i = 0; i < a.size(); i++) {
            JsonNode x = TestSupport.parse(a.get(i));
            JsonNode y = TestSupport.parse(b.get(i));
            for (String k : List.of("objective/scores", "objective/kl", "val/mean_response_length", "loss/policy_avg",
                    "loss/value_avg", "policy/clipfrac_avg")) {
                assertEquals(x.get(k).asDouble(), y.get(k).asDouble(), 1e-4, k + " of iteration " + (i + 1)
                        + " is the whole rollout's");
            }
            assertEquals(x.get("val/num_eos_tokens").asDouble(), y.get("val/num_eos_tokens").asDouble());
        }
    }

    /**
     * rloo and grpo: k samples per prompt stay on one rank, the shares of a minibatch weigh by sequences (RLOO,
     * grpo's own loss type) or tokens (dapo), and batch-wide statistics (RLOO's normalised advantages, grpo's
     * batch-scaled rewards) come from moments summed over the ranks.
     */
    @Test
    void rlooAndGrpoOnTwoRanksEndAsOneProcessWithTheDoubleBatch() throws Exception {
        String[][] variants = {
            {"rloo", "--num-generations", "2", "--normalize-advantages"},
            {"grpo", "--num-generations", "2", "--loss-type", "dapo", "--scale-rewards", "batch", "--kl-coef", "0.05"},
            {"grpo", "--num-generations", "2", "--loss-type", "grpo", "--kl-coef", "0.05"},
        };
        for (String[] v : variants) {
            String name = v[0] + "-" + (v.length > 4 ? v[4] : "loo");
            Path one = tmp.resolve(name + "-1");
            Path two = tmp.resolve(name + "-2");
            ok(Ranks.run(tmp.resolve("logs-" + name + "-1"), 1, groups(v, one, 8, 8)));
            ok(Ranks.run(tmp.resolve("logs-" + name + "-2"), 2, groups(v, two, 4, 4)));
            double d = Ranks.maxDifference(one, two);
            assertTrue(d < TOLERANCE, name + ": weights differ by " + d);
            List<String> a = Files.readAllLines(one.resolve("metrics.jsonl"));
            List<String> b = Files.readAllLines(two.resolve("metrics.jsonl"));
            assertEquals(a.size(), b.size(), name);
            for (int i = 0; i < a.size(); i++) {
                JsonNode x = TestSupport.parse(a.get(i));
                JsonNode y = TestSupport.parse(b.get(i));
                for (String k : List.of("objective/scores", "objective/kl", "loss/policy_avg", "policy/clipfrac_avg")) {
                    assertEquals(x.get(k).asDouble(), y.get(k).asDouble(), 1e-4, name + ": " + k + " of iteration " + (i + 1));
                }
            }
        }
    }

    /** An rloo or grpo run ({@code v}: the command and its own options) on the PPO test's prompts and reward model. */
    private static String[] groups(String[] v, Path out, int batch, int miniBatch) throws IOException {
        List<String> a = new java.util.ArrayList<>(List.of(ppo(out, batch, miniBatch)));
        a.set(0, v[0]);
        a.addAll(List.of(v).subList(1, v.length));
        a.set(a.indexOf("--iterations") + 1, "2");
        return a.toArray(new String[0]);
    }

    @Test
    void aKilledRankStopsTheOtherWithinTheTimeOutNamingIt() throws Exception {
        Path logs = tmp.resolve("logs-kill");
        Path out = tmp.resolve("kill");
        int port = Ranks.freePort();
        String[] a = sft(out, 4, 100_000, 0, 20);
        Process r0 = Ranks.start(logs, 0, 2, port, a);
        Process r1 = Ranks.start(logs, 1, 2, port, a);
        Path metrics = out.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!(Files.exists(metrics) && Files.size(metrics) > 0) && System.nanoTime() < deadline && r0.isAlive()) {
            Thread.sleep(200);
        }
        assertTrue(r0.isAlive() && r1.isAlive(), "both ranks train before one is killed: "
                + Files.readString(logs.resolve("rank0.err")));
        r1.destroyForcibly();
        long t0 = System.nanoTime();
        Ranks.Run r = Ranks.finish(r0, logs, 0, 60);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("rank 1 stopped"), r.err());
        assertTrue(seconds < 20 + 5, "rank 0 ended " + seconds + " s after rank 1 died");
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void launchStopsTheRanksAndNamesTheOneThatFailed() throws Exception {
        Path missing = tmp.resolve("no-such-model");
        TestSupport.Run r = TestSupport.freshJvm(Files.createDirectories(tmp.resolve("logs-launch-fail")), List.of(),
                java.util.Map.of("KEEL_THREADS", "1"), "launch", "--nproc", "2", "--", "sft", "--model",
                missing.toString(), "--data", sftData().toString(), "--out", tmp.resolve("launch-fail").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().matches("(?s).*keel launch: error: rank [01] of 2 exited with code 1; the other ranks were "
                + "stopped.*"), r.err());
        assertTrue(r.err().contains(missing.toString()), "the rank's own error is shown: " + r.err());
    }

    @Test
    void aPortInUseIsAClearError() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0)) {
            Process p = Ranks.start(tmp.resolve("logs-port"), 0, 2, taken.getLocalPort(), sft(tmp.resolve("port"), 4));
            Ranks.Run r = Ranks.finish(p, tmp.resolve("logs-port"), 0, 60);
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("MASTER_PORT " + taken.getLocalPort()) && r.err().contains("already in use"),
                    r.err());
            assertFalse(Files.exists(tmp.resolve("port")), "nothing written");
        }
    }
}
