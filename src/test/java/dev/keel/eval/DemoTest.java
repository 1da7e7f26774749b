package dev.keel.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;

/** The quick demo end to end: every method evaluated, numbers finite, the report and results written. */
class DemoTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theQuickDemoWritesAReportWithEveryMethodMeasured() throws Exception {
        Path out = tmp.resolve("demo");
        var r = TestSupport.keel("demo", "--quick", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode all = TestSupport.readJson(out.resolve("results.json"));
        assertEquals(1, all.get("seeds").asInt());
        JsonNode res = all.get("runs").get(0);
        Set<String> families = new HashSet<>();
        for (JsonNode m : res.get("methods")) {
            families.add(m.get("family").asText());
            for (String k : List.of("gold_reward", "kl_to_sft", "win_rate_vs_sft")) {
                assertTrue(Double.isFinite(m.get(k).asDouble()), m.get("name") + " " + k);
            }
            assertTrue(m.get("cost").get("seconds").asDouble() > 0, m.get("name").asText());
            assertTrue(m.get("win_rate_vs_sft").asDouble() >= 0 && m.get("win_rate_vs_sft").asDouble() <= 1);
            String fam = m.get("family").asText();
            if (fam.startsWith("DPO") || fam.startsWith("PPO") || fam.startsWith("GRPO") || fam.equals("IPO")) {
                // the quick demo evaluates each run twice: half-way and at the end, which is the final point
                assertEquals(2, m.get("path").size(), m.get("name").asText());
                assertEquals(m.get("kl_to_sft").asDouble(), m.get("path").get(1).get("kl").asDouble(), 1e-12);
            }
            if (fam.equals("DPO")) {
                double acc = m.get("heldout_pair_accuracy").get("value").asDouble();
                assertTrue(acc >= 0 && acc <= 1, m.toString());
            }
        }
        assertEquals(Set.of("SFT", "DPO", "IPO", "PPO (learned reward)", "PPO (gold reward)", "GRPO (learned reward)",
                "Best-of-N", "DPO (pairs written by people)", "DPO-Iter (learned reward)"), families);
        assertTrue(res.get("preference_pairs").asInt() >= 8);
        JsonNode rm = res.get("reward_model_heldout_accuracy");
        assertTrue(rm.get("low").asDouble() <= rm.get("value").asDouble() && rm.get("value").asDouble() <= rm.get("high").asDouble());
        assertEquals(0.0, res.get("methods").get(0).get("kl_to_sft").asDouble(), 0, "SFT is the reference");
        assertEquals(Summary.KL_EDGES.length - 1, all.get("summary").get("verdicts").size());
        assertTrue(all.get("summary").get("verdicts").get(0).get("outcome").asText().startsWith("not distinguishable")
                || all.get("summary").get("verdicts").get(0).get("outcome").asText().startsWith("only")
                || all.get("summary").get("verdicts").get(0).get("outcome").asText().startsWith("no method"),
                "one seed never claims a winner: " + all.get("summary").get("verdicts"));
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<svg") && html.contains("<h2>Reward against KL</h2>") && html.contains("Caveats")
                && html.contains("Xu et al. 2024"), "report parts");
        assertTrue(!html.contains("http://") || html.indexOf("<script") < 0, "a static page: no scripts");
        assertTrue(html.contains("When does DPO win, and when does PPO win?"), "the comparison section");
    }

    /** A tiny configuration of the experiment, two seeds. */
    private static String[] tiny(Path out) {
        return new String[] {"experiment", "sentiment", "--quick", "--out", out.toString(), "--seeds", "2",
            "--sft-sentences", "200", "--pair-prompts", "32", "--eval-prompts", "16", "--ppo-iterations", "2",
            "--grpo-iterations", "0", "--best-of-n", "2", "--no-ppo-gold", "--methods", "kto,orpo,simpo,online-dpo"};
    }

    @Test
    void theSameSeedsGiveTheSameNumbersAndSeveralSeedsGiveIntervals() throws Exception {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        var ra = TestSupport.keel(tiny(a));
        assertEquals(0, ra.code(), ra.err());
        var rb = TestSupport.keel(tiny(b));
        assertEquals(0, rb.code(), rb.err());
        JsonNode ja = TestSupport.readJson(a.resolve("results.json"));
        JsonNode jb = TestSupport.readJson(b.resolve("results.json"));
        for (int s = 0; s < 2; s++) {
            JsonNode ma = ja.get("runs").get(s).get("methods");
            JsonNode mb = jb.get("runs").get(s).get("methods");
            for (int i = 0; i < ma.size(); i++) {
                for (String k : List.of("gold_reward", "kl_to_sft", "win_rate_vs_sft", "path", "samples")) {
                    assertEquals(ma.get(i).get(k), mb.get(i).get(k), "seed " + s + ", " + ma.get(i).get("name") + ": " + k);
                }
            }
        }
        assertEquals(2, ja.get("seeds").asInt());
        // the optional methods run on the same data and are evaluated like the others
        Set<String> families = new HashSet<>();
        for (JsonNode m : ja.get("runs").get(0).get("methods")) {
            families.add(m.get("family").asText());
            assertTrue(Double.isFinite(m.get("gold_reward").asDouble()) && Double.isFinite(m.get("kl_to_sft").asDouble()),
                    m.get("name").asText());
        }
        assertTrue(families.containsAll(Set.of("KTO", "ORPO", "SimPO", "Online DPO (learned reward)")), families.toString());
        assertTrue(Files.isDirectory(a.resolve("seed-42")) && Files.isDirectory(a.resolve("seed-43")));
        JsonNode dpo = ja.get("summary").get("methods").get(1);
        assertEquals(2, dpo.get("gold_reward").get("n").asInt());
        assertTrue(dpo.get("gold_reward").get("half_width").asDouble() >= 0, dpo.toString());
        double mean = (ja.get("runs").get(0).get("methods").get(1).get("gold_reward").asDouble()
                + ja.get("runs").get(1).get("methods").get(1).get("gold_reward").asDouble()) / 2;
        assertEquals(mean, dpo.get("gold_reward").get("mean").asDouble(), 1e-12);

        // the report is drawn again from runs.json, without training, with the same numbers
        byte[] results = Files.readAllBytes(a.resolve("results.json"));
        Files.delete(a.resolve("report.html"));
        var again = TestSupport.keel("experiment", "sentiment", "--out", a.toString(), "--report-only");
        assertEquals(0, again.code(), again.err());
        assertTrue(Files.isRegularFile(a.resolve("report.html")));
        assertEquals(new String(results), Files.readString(a.resolve("results.json")));
    }
}
