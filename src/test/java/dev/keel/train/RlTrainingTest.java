package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;

/**
 * The toy task of the RL issue: the reward is +1 per occurrence of "great". A tiny model is first fine-tuned
 * on sentences where "great" is one adjective of eight, so it says it about one time in eight; RL should make
 * it say it far more often while the KL to the reference stays finite and positive.
 */
class RlTrainingTest {
    @TempDir
    static Path tmp;

    static Path sft;
    static Path prompts;

    @BeforeAll
    static void fineTunedStart() throws IOException {
        TestSupport.init();
        Path base = TinyModels.llama(tmp.resolve("base"), 3);
        StringBuilder data = new StringBuilder();
        StringBuilder ps = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            int cut = s.lastIndexOf(' ');
            data.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"completion\": \"").append(s.substring(cut)).append("\"}\n");
            ps.append("{\"prompt\": \"").append(s, 0, cut).append("\"}\n");
        }
        Files.writeString(tmp.resolve("sft.jsonl"), data);
        prompts = tmp.resolve("prompts.jsonl");
        Files.writeString(prompts, ps);
        sft = tmp.resolve("sft");
        var r = SftTrainingTest.keel("sft", "--model", base.toString(), "--data", tmp.resolve("sft.jsonl").toString(),
                "--out", sft.toString(), "--epochs", "30", "--batch-size", "16", "--lr", "5e-3", "--log-every", "50");
        assertEquals(0, r.code(), r.err());
    }

    private static List<JsonNode> run(String algo, String out, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of(algo, "--policy", sft.toString(), "--reward", "builtin:count:great",
                "--prompts", prompts.toString(), "--out", tmp.resolve(out).toString(),
                "--max-new-tokens", "8", "--temperature", "1.0", "--lr", "3e-3", "--lr-scheduler", "constant"));
        args.addAll(List.of(extra));
        var r = SftTrainingTest.keel(args.toArray(new String[0]));
        assertEquals(0, r.code(), r.err());
        List<JsonNode> m = new ArrayList<>();
        for (String s : Files.readAllLines(tmp.resolve(out).resolve("metrics.jsonl"))) {
            m.add(TestSupport.parse(s));
        }
        return m;
    }

    /** "step: score/kl" every fifth iteration, for the log. */
    private static String curve(List<JsonNode> m) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < m.size(); i += 5) {
            sb.append(String.format(java.util.Locale.ROOT, "%d: %.3f/%.3f  ", m.get(i).get("step").asInt(),
                    m.get(i).get("objective/scores").asDouble(), m.get(i).get("objective/kl").asDouble()));
        }
        JsonNode last = m.get(m.size() - 1);
        return sb.append(String.format(java.util.Locale.ROOT, "%d: %.3f/%.3f (score/kl)", last.get("step").asInt(),
                last.get("objective/scores").asDouble(), last.get("objective/kl").asDouble())).toString();
    }

    private static double mean(List<JsonNode> m, String key, int from, int to) {
        return m.subList(from, to).stream().mapToDouble(n -> n.get(key).asDouble()).average().orElseThrow();
    }

    @Test
    void ppoRaisesTheScoreSeveralFoldWithAFinitePositiveKlAndALargerCoefficientGivesLessKl() throws IOException {
        // 20 iterations: with kl-coef 0.02 the toy policy saturates the reward (every completion scores 1) by about
        // iteration 11; past that the reward no longer varies, the whitened advantages are noise, and on some
        // sampling paths the policy drifts away (KL 37 at iteration 21, score 0 at 30), which says nothing about
        // whether PPO learns
        List<JsonNode> low = run("ppo", "ppo-low", "--iterations", "20", "--kl-coef", "0.02", "--batch-size", "16");
        // the first rollout is the only one sampled before any update (by iteration 3 the policy has learned)
        double start = mean(low, "objective/scores", 0, 1);
        double end = mean(low, "objective/scores", 17, 20);
        System.out.println("PPO toy, kl-coef 0.02: " + curve(low));
        assertTrue(end >= 3 * start && end > 0.5, "mean score " + start + " -> " + end);
        for (JsonNode n : low) {
            double kl = n.get("objective/kl").asDouble();
            assertTrue(Double.isFinite(kl), n.toString());
        }
        assertTrue(mean(low, "objective/kl", 17, 20) > 0, "KL to the reference grows as the policy moves");
        for (String k : List.of("objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
                "objective/scores", "policy/approxkl_avg", "policy/clipfrac_avg", "policy/entropy_avg", "loss/policy_avg",
                "loss/value_avg", "val/clipfrac_avg", "val/ratio", "val/num_eos_tokens", "lr")) {
            assertTrue(low.get(0).has(k), "metrics lack " + k);
        }
        // at this toy's learning rate one sampling path's KL swings by several nats between iterations, so the
        // coefficient's effect is compared over three seeds (the default seed's low-coefficient run is the one above)
        double klLow = 0;
        double klHigh = 0;
        for (String seed : List.of("42", "7", "11")) {
            List<JsonNode> lo = seed.equals("42") ? low : run("ppo", "ppo-low-" + seed, "--iterations", "20",
                    "--kl-coef", "0.02", "--batch-size", "16", "--seed", seed);
            List<JsonNode> high = run("ppo", "ppo-high-" + seed, "--iterations", "20", "--kl-coef", "1.0",
                    "--batch-size", "16", "--seed", seed);
            System.out.println("PPO toy, kl-coef 1.0, seed " + seed + ": " + curve(high));
            klLow += mean(lo, "objective/kl", 10, 20) / 3;
            klHigh += mean(high, "objective/kl", 10, 20) / 3;
        }
        assertTrue(klHigh < klLow, "mean KL over 3 seeds with beta 1.0: " + klHigh + ", with 0.02: " + klLow);
        assertTrue(Files.exists(tmp.resolve("ppo-low").resolve("model.safetensors")));
        // run_config.json is the settings records as they serialise: the algorithm by name, TRL's RL optimizer
        JsonNode cfg = TestSupport.readJson(tmp.resolve("ppo-low").resolve("run_config.json")).path("settings");
        assertEquals("ppo", cfg.path("rl").path("algorithm").path("name").asText(), cfg.toString());
        assertEquals(0.02, cfg.path("rl").path("kl").path("coef").asDouble(), cfg.toString());
        assertEquals(1e-5, cfg.path("optim").path("eps").asDouble(), cfg.toString());
        assertEquals(0.5, cfg.path("optim").path("maxGradNorm").asDouble(), cfg.toString());
    }

    @Test
    void rlCommandsTakeAConfigFileAndRefuseOptionsOfAnotherAlgorithm() throws IOException {
        Path yaml = tmp.resolve("rloo.yaml");
        Files.writeString(yaml, "iterations: 2\nbatch-size: 2\nnum-generations: 2\nweight-decay: 0.01\n"
                + "warmup-steps: 1\nmax-new-tokens: 4\n");
        List<JsonNode> m = run("rloo", "rloo-yaml", "--config", yaml.toString());
        assertEquals(2, m.size());
        JsonNode cfg = TestSupport.readJson(tmp.resolve("rloo-yaml").resolve("run_config.json")).path("settings");
        assertEquals(0.01, cfg.path("optim").path("weightDecay").asDouble(), cfg.toString());
        assertEquals(1, cfg.path("optim").path("warmupSteps").asLong(), cfg.toString());
        assertEquals(2, cfg.path("rl").path("algorithm").path("numGenerations").asInt(), cfg.toString());
        Files.writeString(yaml, "vf-coef: 0.5\n");
        var r = SftTrainingTest.keel("rloo", "--config", yaml.toString(), "--policy", sft.toString(), "--reward",
                "builtin:count:great", "--prompts", prompts.toString(), "--out", tmp.resolve("rloo-bad").toString());
        assertTrue(r.code() != 0 && r.err().contains("'vf-coef' is not an option of 'keel rloo'"), r.err());
        assertTrue(!Files.exists(tmp.resolve("rloo-bad")), "nothing is written for a refused configuration");
    }

    @Test
    void rlooAndGrpoRaiseTheScoreToo() throws IOException {
        for (String algo : List.of("rloo", "grpo")) {
            List<JsonNode> m = run(algo, algo, "--iterations", "20", "--batch-size", "8", "--num-generations", "4",
                    "--kl-coef", "0.02");
            double start = mean(m, "objective/scores", 0, 3);
            double end = mean(m, "objective/scores", 17, 20);
            System.out.println(algo + " toy: " + curve(m));
            assertTrue(end >= 2 * start && end > 0.4, algo + ": mean score " + start + " -> " + end);
        }
    }

    @Test
    void onlineDpoRaisesTheScoreThreefoldAndLogsTrlsMetrics() throws IOException {
        List<JsonNode> m = run("online-dpo", "online-dpo", "--iterations", "30", "--batch-size", "16", "--beta", "0.1");
        double start = mean(m, "objective/scores", 0, 3);
        double end = mean(m, "objective/scores", 27, 30);
        System.out.println("online DPO toy: " + curve(m));
        assertTrue(end >= 3 * start && end > 0.5, "mean score " + start + " -> " + end);
        for (String k : List.of("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                "logps/chosen", "logps/rejected", "beta", "objective/kl", "objective/non_score_reward")) {
            assertTrue(m.get(0).has(k), "metrics lack " + k);
        }
        for (JsonNode n : m) {
            double acc = n.get("rewards/accuracies").asDouble();
            assertTrue(acc >= 0 && acc <= 1 && Double.isFinite(n.get("rewards/margins").asDouble()), n.toString());
        }
        JsonNode cfg = TestSupport.readJson(tmp.resolve("online-dpo").resolve("run_config.json")).path("settings");
        assertEquals("online-dpo", cfg.path("rl").path("algorithm").path("name").asText(), cfg.toString());
        assertEquals(0.1, cfg.path("rl").path("kl").path("coef").asDouble(), "the logged KL penalty uses beta");
        var r = SftTrainingTest.keel("online-dpo", "--policy", sft.toString(), "--reward", "builtin:count:great",
                "--prompts", prompts.toString(), "--out", tmp.resolve("online-dpo-kl").toString(), "--kl-coef", "0.2");
        assertTrue(r.code() != 0 && r.err().contains("online-dpo's KL strength is --beta; leave out --kl-coef"), r.err());
    }
}
