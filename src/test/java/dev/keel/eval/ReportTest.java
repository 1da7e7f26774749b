package dev.keel.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;

/** The report's words computed from the runs: budgets, caveats, the routes, and drawing it again from runs.json. */
class ReportTest {
    @TempDir
    Path tmp;

    private static SentimentExperiment.MethodResult method(String name, Family family, long fwd, long bwd,
                                                           double seconds, double gold, double kl) {
        PolicyEval.Samples samples = new PolicyEval.Samples(List.of(new long[] {1, 2}), List.of("a good day"),
                new double[] {gold}, new boolean[] {true});
        return new SentimentExperiment.MethodResult(name, family, "-", new PolicyEval.Result(gold, 0.1, kl, 0.6, samples),
                new Cost.Spent(seconds, 100, 10, fwd, 5, bwd), List.of(Map.of("step", 1, "loss", 0.5)),
                List.of(new SentimentExperiment.PathPoint(1.0, kl, gold)),
                family == Family.DPO ? Optional.of(new Intervals.Proportion(0.7, 0.6, 0.8, 100)) : Optional.empty());
    }

    private static SentimentExperiment.Results run(ExperimentConfig cfg) {
        return new SentimentExperiment.Results(cfg, new Intervals.Proportion(0.75, 0.7, 0.8, 590), 2890, 10,
                List.of("the film"), List.of(
                        method("SFT", Family.SFT, 0, 0, 0, 0.1, 0),
                        method("DPO \u03b2=0.1", Family.DPO, 1000, 500, 10, 0.4, 3),
                        method("IPO \u03b2=0.1", Family.IPO, 1200, 600, 12, 0.45, 5),
                        method("PPO (learned reward) \u03b2=0.05", Family.PPO_LEARNED, 3000, 1000, 40, 0.5, 5.5),
                        method("Best-of-4", Family.BEST_OF_N, 400, 0, 3, 0.3, 0.6)), 100);
    }

    private static ExperimentConfig config(boolean xuAblation) {
        ExperimentConfig full = ExperimentConfig.full();
        ExperimentConfig.Methods m = full.methods();
        return full.withMethods(new ExperimentConfig.Methods(List.of(0.05, 0.1, 0.5), m.ipoBeta(), m.ppoKlCoefs(),
                m.ppoIterations(), m.rlBatch(), m.missingEosPenalty(), m.ppoGold(), m.grpoIterations(), m.bestOfN(),
                m.offPolicyDpo(), m.dpoIterRounds(), true, xuAblation, m.extra()));
    }

    @Test
    void computeIsForwardTokensPlusTwiceBackwardTokens() {
        assertEquals(1000 + 2 * 500, Report.compute(new Cost.Spent(1, 1, 1, 1000, 1, 500)), 0);
    }

    @Test
    void budgetsSortRunsByTheirComputeAgainstDposMiddleBeta() {
        List<SentimentExperiment.Results> runs = List.of(run(config(true)));
        String h = Report.budgets(runs, Summary.of(runs));
        // DPO: 1000 + 2*500 = 2000; IPO 2400 (1.2x), PPO 5000 (2.5x), best-of-4 400 (0.2x)
        assertTrue(h.contains("<b>comparable</b> (within a factor of 2): IPO \u03b2=0.1 (1.2&times; the tokens, 1.2&times; the time)"), h);
        assertTrue(h.contains("<b>more than twice</b>: PPO (learned reward) \u03b2=0.05 (2.5&times; the tokens, 4.0&times; the time)"), h);
        assertTrue(h.contains("<b>less than half</b>: Best-of-4 (0.2&times; the tokens, 0.3&times; the time)"), h);
        // 1536 prompts x 6 samples = 9216; PPO 32 x 24 = 768 episodes; matched: 384 x 24 = 9216
        assertTrue(h.contains("9216 completions sampled") && h.contains("768 episodes")
                && h.contains("matched-budget PPO run takes 9216 episodes"), h);
    }

    @Test
    void caveatsNameOnlyTheQuestionsTheRunLeftOut() {
        String with = Report.caveats(config(true));
        assertTrue(with.contains("includes each of their questions"), with);
        String without = Report.caveats(config(false));
        assertTrue(without.contains("leaves out PPO's three factors (--xu-ablation)"), without);
        assertFalse(without.contains("matched-budget"), without);
    }

    @Test
    void theRoutesAreComparedByFamilyNotByName() {
        List<SentimentExperiment.Results> runs = List.of(run(config(true)));
        List<Summary.Verdict> v = Summary.of(runs).verdicts();
        // KL in [3, 6): IPO (5) is the reward-free route's best there; PPO (learned reward) at 5.5 the reward-based one's
        assertEquals("IPO \u03b2=0.1", v.get(2).dpoName());
        assertEquals("PPO (learned reward) \u03b2=0.05", v.get(2).ppoName());
        // KL in [0, 1): best-of-4 at 0.6 belongs to neither route
        assertEquals("no method reached this KL", v.get(0).outcome());
    }

    @Test
    void theReportIsDrawnAgainFromRunsJsonWithTheSameNumbers() throws Exception {
        List<SentimentExperiment.Results> runs = List.of(run(config(true)), run(config(true).withSeed(43)));
        Report.write(runs, tmp, "keel experiment sentiment --seeds 2");
        byte[] results = Files.readAllBytes(tmp.resolve("results.json"));
        String html = Files.readString(tmp.resolve("report.html"));
        Files.delete(tmp.resolve("report.html"));
        RunsJson.Saved saved = RunsJson.read(tmp);
        assertEquals("keel experiment sentiment --seeds 2", saved.command());
        Report.write(saved.runs(), tmp, saved.command());
        assertEquals(new String(results), new String(Files.readAllBytes(tmp.resolve("results.json"))));
        assertEquals(html, Files.readString(tmp.resolve("report.html")));
    }

    @Test
    void aFolderWithoutRunsJsonIsAClearError() throws Exception {
        KeelException e = assertThrows(KeelException.class, () -> RunsJson.read(tmp));
        assertTrue(e.getMessage().contains("runs.json: not found"), e.getMessage());
        Files.writeString(tmp.resolve("runs.json"), "{\"command\": 3");
        e = assertThrows(KeelException.class, () -> RunsJson.read(tmp));
        assertTrue(e.getMessage().contains("runs.json: not the runs of an experiment"), e.getMessage());
    }
}
