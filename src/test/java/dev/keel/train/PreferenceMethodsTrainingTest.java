package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.data.KtoData;
import dev.keel.data.KtoExample;
import dev.keel.data.ScoringRecord;
import dev.keel.data.Truncation;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;

/**
 * KTO, ORPO and CPO/SimPO end to end through the command line, on the marker task of {@link PreferenceTrainingTest}:
 * the chosen completion says "great", the rejected one another adjective. Each method's own options keep their
 * defaults (TRL's); only the learning rate is raised, as in the DPO test, because TRL's 1e-6 barely moves a
 * random-weight model in 72 steps.
 */
class PreferenceMethodsTrainingTest {
    private static final String LR = "3e-3";

    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /** The marker pairs as JSON objects: 192 of them, shuffled, the first quarter held out. */
    private static List<String[]> markerPairs() {
        String[] others = {"terrible", "awful", "fine", "boring", "bad", "wonderful", "amazing"};
        Random r = new Random(5);
        List<String[]> out = new ArrayList<>();
        for (String s : TinyModels.sentences()) {
            out.add(new String[] {s.substring(0, s.lastIndexOf(' ')), " great.", " " + others[r.nextInt(others.length)] + "."});
        }
        Collections.shuffle(out, new Random(3));
        return out;
    }

    private Path pairsFile(String name, List<String[]> pairs) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String[] p : pairs) {
            sb.append("{\"prompt\": \"").append(p[0]).append("\", \"chosen\": \"").append(p[1])
                    .append("\", \"rejected\": \"").append(p[2]).append("\"}\n");
        }
        Path f = tmp.resolve(name);
        Files.writeString(f, sb);
        return f;
    }

    /** Each pair as two unpaired records, TRL's KTO format (what TRL's maybe_unpair_preference_dataset makes). */
    private Path unpairedFile(String name, List<String[]> pairs) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String[] p : pairs) {
            sb.append("{\"prompt\": \"").append(p[0]).append("\", \"completion\": \"").append(p[1]).append("\", \"label\": true}\n");
            sb.append("{\"prompt\": \"").append(p[0]).append("\", \"completion\": \"").append(p[2]).append("\", \"label\": false}\n");
        }
        Path f = tmp.resolve(name);
        Files.writeString(f, sb);
        return f;
    }

    private static JsonNode lastEval(Path out) throws IOException {
        JsonNode last = null;
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = TestSupport.parse(s);
            if (n.has("eval_loss")) {
                last = n;
            }
        }
        return last;
    }

    private static JsonNode firstTrainLine(Path out) throws IOException {
        return TestSupport.parse(Files.readAllLines(out.resolve("metrics.jsonl")).get(0));
    }

    /** Summed completion log-probs under the model in {@code dir}, one per (prompt, completion). */
    private static double[] logps(Path dir, List<String[]> prompts) {
        CausalLM m = ModelFiles.load(dir, null, null);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            List<ScoringRecord> recs = new ArrayList<>();
            for (String[] p : prompts) {
                long[] eos = {tok.eosId()};
                recs.add(new ScoringRecord(0, tok.encode(p[0], true), dev.keel.data.Ids.concat(tok.encode(p[1], false), eos)));
            }
            return SequenceScorer.score(m, recs, 16, tok.padId()).stream().mapToDouble(SequenceScorer.Score::logProb).toArray();
        }
    }

    @Test
    void ktoWithDefaultOptionsSeparatesDesirableFromUndesirableHeldOutCompletions() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        List<String[]> pairs = markerPairs();
        int held = pairs.size() / 4;
        Path train = unpairedFile("kto-train.jsonl", pairs.subList(held, pairs.size()));
        Path eval = unpairedFile("kto-eval.jsonl", pairs.subList(0, held));
        Path out = tmp.resolve("kto");
        var r = SftTrainingTest.keel("kto", "--model", base.toString(), "--data", train.toString(), "--eval-data",
                eval.toString(), "--out", out.toString(), "--lr", LR, "--log-every", "5");
        assertEquals(0, r.code(), r.err());
        // the implicit reward β(log π − log π_ref) of each held-out prompt's desirable and undesirable completion
        List<String[]> desirable = new ArrayList<>();
        List<String[]> undesirable = new ArrayList<>();
        for (String[] p : pairs.subList(0, held)) {
            desirable.add(new String[] {p[0], p[1]});
            undesirable.add(new String[] {p[0], p[2]});
        }
        double[] dPolicy = logps(out, desirable);
        double[] dRef = logps(base, desirable);
        double[] uPolicy = logps(out, undesirable);
        double[] uRef = logps(base, undesirable);
        int right = 0;
        int positive = 0;
        int negative = 0;
        for (int i = 0; i < held; i++) {
            double rd = 0.1 * (dPolicy[i] - dRef[i]);
            double ru = 0.1 * (uPolicy[i] - uRef[i]);
            right += rd > ru ? 1 : 0;
            positive += rd > 0 ? 1 : 0;
            negative += ru < 0 ? 1 : 0;
        }
        double accuracy = (double) right / held;
        System.out.printf("KTO marker task: implicit reward ranks desirable above undesirable on %d of %d held-out "
                + "prompts (%.3f); desirable > 0 on %d, undesirable < 0 on %d%n", right, held, accuracy, positive, negative);
        assertTrue(accuracy >= 0.9, right + " of " + held);
        JsonNode ev = lastEval(out);
        System.out.println("KTO held out: " + ev);
        assertTrue(ev.get("eval_rewards/chosen").asDouble() > ev.get("eval_rewards/rejected").asDouble(), ev.toString());
        assertEquals(ev.get("eval_rewards/chosen").asDouble() - ev.get("eval_rewards/rejected").asDouble(),
                ev.get("eval_rewards/margins").asDouble(), 1e-9);
        JsonNode first = firstTrainLine(out);
        for (String k : List.of("rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "logps/rejected",
                "logits/chosen", "logits/rejected", "kl")) {
            assertTrue(first.has(k), "metrics.jsonl lacks " + k + ": " + first);
        }
        assertTrue(first.get("kl").asDouble() >= 0, "kl is clamped at 0");
        JsonNode cfg = TestSupport.readJson(out.resolve("run_config.json"));
        assertEquals("kto", cfg.get("command").asText());
        assertEquals(1.0, cfg.at("/settings/kto/desirableWeight").asDouble(), 0, cfg.toString());
    }

    @Test
    void aKtoRunResumedFromACheckpointInsideALoggingIntervalLogsWhatAnUninterruptedRunLogs() throws IOException {
        // the step-4 line averages steps 1-4; the checkpoint at step 2 cuts that interval, so the per-label sums and
        // counts of rewards/chosen and rewards/rejected must survive it
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path data = unpairedFile("u.jsonl", markerPairs().subList(0, 40));
        Path whole = tmp.resolve("whole");
        String[] args = {"kto", "--model", base.toString(), "--data", data.toString(), "--lr", "1e-3", "--max-steps", "4",
            "--save-every", "2", "--log-every", "4", "--out", whole.toString()};
        var a = SftTrainingTest.keel(args);
        assertEquals(0, a.code(), a.err());
        Path resumed = tmp.resolve("resumed");
        copyTree(whole.resolve("checkpoint-2"), resumed.resolve("checkpoint-2"));
        String[] again = java.util.Arrays.copyOf(args, args.length + 1);
        again[args.length - 1] = resumed.toString();
        again[args.length] = "--resume";
        var b = SftTrainingTest.keel(again);
        assertEquals(0, b.code(), b.err());
        assertTrue(b.err().contains("resuming from") && b.err().contains("checkpoint-2"), b.err());
        JsonNode x = firstTrainLine(whole);
        JsonNode y = firstTrainLine(resumed);
        assertEquals(4, y.get("step").asLong());
        for (String k : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "kl")) {
            assertEquals(x.get(k).asDouble(), y.get(k).asDouble(), 1e-6, k + ": " + x + " vs " + y);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q);
                }
            }
        }
    }

    @Test
    void orpoWithDefaultOptionsRanksTheChosenAboveTheRejectedOnHeldOutPairs() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        List<String[]> pairs = markerPairs();
        Path out = tmp.resolve("orpo");
        var r = SftTrainingTest.keel("orpo", "--model", base.toString(), "--data", pairsFile("p.jsonl", pairs).toString(),
                "--out", out.toString(), "--lr", LR, "--eval-fraction", "0.25", "--log-every", "5");
        assertEquals(0, r.code(), r.err());
        JsonNode ev = lastEval(out);
        System.out.println("ORPO marker task, held out: " + ev);
        assertTrue(ev.get("eval_rewards/accuracies").asDouble() >= 0.9, ev.toString());
        JsonNode first = firstTrainLine(out);
        for (String k : List.of("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected", "nll_loss", "log_odds_ratio",
                "log_odds_chosen")) {
            assertTrue(first.has(k), "metrics.jsonl lacks " + k + ": " + first);
        }
        assertFalse(Files.exists(out.resolve("reference_logps.json")), "ORPO has no reference");
    }

    @Test
    void cpoWithDefaultOptionsRanksTheChosenAboveTheRejectedOnHeldOutPairs() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path out = tmp.resolve("cpo");
        var r = SftTrainingTest.keel("cpo", "--model", base.toString(), "--data",
                pairsFile("p.jsonl", markerPairs()).toString(), "--out", out.toString(), "--lr", LR,
                "--eval-fraction", "0.25", "--log-every", "5");
        assertEquals(0, r.code(), r.err());
        JsonNode ev = lastEval(out);
        System.out.println("CPO (sigmoid, cpo-alpha 1) marker task, held out: " + ev);
        assertTrue(ev.get("eval_rewards/accuracies").asDouble() >= 0.9, ev.toString());
        assertTrue(ev.get("eval_nll_loss").asDouble() > 0, ev.toString());
    }

    @Test
    void simpoRanksTheChosenAboveTheRejectedOnHeldOutPairs() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path out = tmp.resolve("simpo");
        // SimPO as TRL spells it: loss type simpo without the NLL term; β and γ at TRL's defaults
        var r = SftTrainingTest.keel("cpo", "--model", base.toString(), "--data",
                pairsFile("p.jsonl", markerPairs()).toString(), "--out", out.toString(), "--lr", LR,
                "--loss-type", "simpo", "--cpo-alpha", "0", "--eval-fraction", "0.25", "--log-every", "5");
        assertEquals(0, r.code(), r.err());
        JsonNode ev = lastEval(out);
        System.out.println("SimPO marker task, held out: " + ev);
        assertTrue(ev.get("eval_rewards/accuracies").asDouble() >= 0.9, ev.toString());
        assertEquals(0.0, ev.get("eval_nll_loss").asDouble(), 0, "TRL logs nll_loss 0 at cpo_alpha 0");
    }

    @Test
    void aKtoLabelThatIsNotABooleanIsNamedWithFileAndLineAndNoFolderIsMade() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"completion\": \" b\", \"label\": true}\n"
                + "{\"prompt\": \"a\", \"completion\": \" c\", \"label\": \"yes\"}\n");
        Path out = tmp.resolve("none");
        var r = SftTrainingTest.keel("kto", "--model", base.toString(), "--data", f.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(f + ":2") && r.err().contains("'label'"), r.err());
        assertFalse(Files.exists(out));
        // a paired record is refused with the way out, not read as something else
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n");
        r = SftTrainingTest.keel("kto", "--model", base.toString(), "--data", f.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(f + ":1") && r.err().contains("unpaired"), r.err());
        // a missing completion
        Files.writeString(f, "{\"prompt\": \"a\", \"label\": false}\n");
        r = SftTrainingTest.keel("kto", "--model", base.toString(), "--data", f.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(f + ":1") && r.err().contains("'completion'"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void orpoAndCpoNameAMissingRejectedWithFileAndLineAndMakeNoFolder() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n{\"prompt\": \"a\", \"chosen\": \" b\"}\n");
        for (String cmd : List.of("orpo", "cpo")) {
            Path out = tmp.resolve("none-" + cmd);
            var r = SftTrainingTest.keel(cmd, "--model", base.toString(), "--data", f.toString(), "--out", out.toString());
            assertEquals(1, r.code(), cmd);
            assertTrue(r.err().contains(f + ":2") && r.err().contains("'rejected'"), r.err());
            assertFalse(Files.exists(out), cmd);
        }
        var r = SftTrainingTest.keel("cpo", "--model", base.toString(), "--data", f.toString(), "--out",
                tmp.resolve("x").toString(), "--loss-type", "orpo");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("sigmoid, hinge, ipo, simpo"), r.err());
    }

    @Test
    void ktoRefusesABatchOfOneBecauseItsKlPairWouldBeItsOwnExample() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = unpairedFile("u.jsonl", markerPairs().subList(0, 4));
        var r = SftTrainingTest.keel("kto", "--model", base.toString(), "--data", f.toString(), "--out",
                tmp.resolve("b1").toString(), "--batch-size", "1");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--batch-size must be at least 2"), r.err());
    }

    @Test
    void conversationalKtoRecordsRenderThePromptWithTheGenerationPrompt() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("conv.jsonl");
        Files.writeString(f, "{\"prompt\": [{\"role\": \"user\", \"content\": \"The movie?\"}], "
                + "\"completion\": [{\"role\": \"assistant\", \"content\": \"great\"}], \"label\": true}\n");
        try (Tokenizer tok = Tokenizer.load(base)) {
            var t = dev.keel.chat.ChatTemplate.of(TinyModels.CHAT_TEMPLATE,
                    dev.keel.chat.ChatTemplate.specialTokens(tok.config()));
            KtoExample e = KtoData.read(f, tok, t, 10_000, 64, 32, Truncation.KEEP_START).examples().get(0);
            assertEquals("<|endoftext|>user: The movie?\n<|endoftext|>assistant: ", tok.decode(e.promptIds(), false));
            assertEquals("great\n", tok.decode(e.completionIds(), false));
            assertTrue(e.desirable());
        }
    }

    @Test
    void aYamlConfigSetsTheNewTrainersOptionsAndFlagsOverrideIt() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path data = pairsFile("p.jsonl", markerPairs().subList(0, 16));
        Path out = tmp.resolve("cfg");
        Path yaml = tmp.resolve("run.yaml");
        Files.writeString(yaml, "model: " + base + "\ndata: " + data + "\nout: " + out + "\nloss-type: simpo\n"
                + "simpo-gamma: 0.8\ncpo-alpha: 0\nmax-steps: 2\nlr: 1e-4\n");
        var r = SftTrainingTest.keel("cpo", "--config", yaml.toString(), "--simpo-gamma", "1.2");
        assertEquals(0, r.code(), r.err());
        JsonNode cfg = TestSupport.readJson(out.resolve("run_config.json"));
        assertEquals("simpo", cfg.at("/settings/cpo/lossType").asText(), cfg.toString());
        assertEquals(1.2, cfg.at("/settings/cpo/simpoGamma").asDouble(), 0, cfg.toString());
        assertEquals(0.0, cfg.at("/settings/cpo/cpoAlpha").asDouble(), 0, cfg.toString());
        assertEquals(1e-4, cfg.at("/settings/optim/lr").asDouble(), 0, cfg.toString());
        // a key that is no option of the command is an error naming it
        Files.writeString(yaml, "model: " + base + "\ndata: " + data + "\nout: " + out + "\ndesirable-weight: 2\n");
        var bad = SftTrainingTest.keel("orpo", "--config", yaml.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("desirable-weight"), bad.err());
    }

    @Test
    void everyNewCommandHasHelpWithItsOwnOptions() {
        for (String[] c : new String[][] {{"kto", "--desirable-weight"}, {"orpo", "--beta"}, {"cpo", "--simpo-gamma"}}) {
            var r = SftTrainingTest.keel(c[0], "--help");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains(c[1]) && r.out().contains("--config"), r.out());
        }
        var top = SftTrainingTest.keel("--help");
        assertTrue(top.out().contains("kto") && top.out().contains("orpo") && top.out().contains("cpo"), top.out());
    }
}
