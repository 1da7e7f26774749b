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
        JsonNode res = TestSupport.readJson(out.resolve("results.json"));
        Set<String> families = new HashSet<>();
        for (JsonNode m : res.get("methods")) {
            families.add(m.get("family").asText());
            for (String k : List.of("gold_reward", "kl_to_sft", "win_rate_vs_sft")) {
                assertTrue(Double.isFinite(m.get(k).asDouble()), m.get("name") + " " + k);
            }
            assertTrue(m.get("cost").get("seconds").asDouble() > 0, m.get("name").asText());
            assertTrue(m.get("win_rate_vs_sft").asDouble() >= 0 && m.get("win_rate_vs_sft").asDouble() <= 1);
        }
        assertEquals(Set.of("SFT", "DPO", "IPO", "PPO (learned reward)", "PPO (gold reward)", "GRPO (learned reward)",
                "Best-of-N"), families);
        assertTrue(res.get("preference_pairs").asInt() >= 8);
        assertEquals(0.0, res.get("methods").get(0).get("kl_to_sft").asDouble(), 0, "SFT is the reference");
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<svg") && html.contains("<h2>Reward against KL</h2>") && html.contains("Caveats")
                && html.contains("Xu et al. 2024"), "report parts");
        assertTrue(!html.contains("http://") || html.indexOf("<script") < 0, "a static page: no scripts");
    }
}
