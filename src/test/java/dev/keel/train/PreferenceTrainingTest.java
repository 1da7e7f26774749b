package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.data.PreferenceData;
import dev.keel.data.PreferencePair;
import dev.keel.data.ScoringRecord;
import dev.keel.data.Truncation;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;

class PreferenceTrainingTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /**
     * A learnable preference: the chosen completion says "great", the rejected one another adjective.
     * Prompts are the subjects and verbs of the tiny sentences; 192 pairs.
     */
    private Path markerPairs() throws IOException {
        return markerPairs(tmp);
    }

    /** The marker pairs written into {@code dir}/prefs.jsonl (LoRA's tests train on them too). */
    static Path markerPairs(Path dir) throws IOException {
        String[] others = {"terrible", "awful", "fine", "boring", "bad", "wonderful", "amazing"};
        Random r = new Random(5);
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            String prompt = s.substring(0, s.lastIndexOf(' '));
            String bad = others[r.nextInt(others.length)];
            boolean flip = r.nextBoolean();
            sb.append("{\"prompt\": \"").append(prompt).append("\", \"chosen\": \" great.\", \"rejected\": \" ")
                    .append(bad).append(".\"").append(flip ? ", \"margin\": 0.5" : "").append("}\n");
        }
        Path f = dir.resolve("prefs.jsonl");
        Files.writeString(f, sb);
        return f;
    }

    static JsonNode lastEval(Path out) throws IOException {
        JsonNode last = null;
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = TestSupport.parse(s);
            if (n.has("eval_loss")) {
                last = n;
            }
        }
        return last;
    }

    @Test
    void dpoLearnsTheMarkerPreferenceAboveNinetyPercentOnHeldOutPairs() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path out = tmp.resolve("dpo");
        var r = SftTrainingTest.keel("dpo", "--model", base.toString(), "--data", markerPairs().toString(),
                "--out", out.toString(), "--beta", "0.1", "--epochs", "3", "--batch-size", "8", "--lr", "3e-3",
                "--eval-fraction", "0.25", "--log-every", "5");
        assertEquals(0, r.code(), r.err());
        JsonNode eval = lastEval(out);
        System.out.println("DPO marker task, held out: " + eval);
        assertTrue(eval.get("eval_rewards/accuracies").asDouble() > 0.9, eval.toString());
        JsonNode first = TestSupport.parse(Files.readAllLines(out.resolve("metrics.jsonl")).get(0));
        for (String k : List.of("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected")) {
            assertTrue(first.has(k), "metrics.jsonl lacks " + k);
        }
        assertTrue(Files.exists(out.resolve(dev.keel.cli.DpoCommandAccess.REFERENCE_FILE)));
    }

    @Test
    void rewardWithDefaultOptionsLearnsTheMarkerPreference() throws IOException {
        // only --model, --data and --out: the defaults must learn an easy, separable preference, as dpo's do
        Path base = TinyModels.llama(tmp.resolve("base-defaults"), 4);
        List<String> lines = Files.readAllLines(markerPairs());
        java.util.Collections.shuffle(lines, new Random(3));
        int held = lines.size() / 4;
        Path train = tmp.resolve("marker-train.jsonl");
        Files.write(train, lines.subList(held, lines.size()));
        Path out = tmp.resolve("rm-defaults");
        var r = SftTrainingTest.keel("reward", "--model", base.toString(), "--data", train.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        int right = 0;
        try (dev.keel.reward.ModelReward rm = new dev.keel.reward.ModelReward(out, null, 16)) {
            for (String l : lines.subList(0, held)) {
                JsonNode n = TestSupport.parse(l);
                double[] s = rm.score(List.of(n.get("prompt").asText(), n.get("prompt").asText()),
                        List.of(n.get("chosen").asText(), n.get("rejected").asText()));
                right += s[0] > s[1] ? 1 : 0;
            }
        }
        System.out.println("Reward model with default options, marker task: " + right + " of " + held + " held-out pairs");
        assertTrue(right >= 0.9 * held, right + " of " + held);
    }

    @Test
    void rewardModelLearnsTheMarkerPreferenceAboveNinetyPercentOnHeldOutPairs() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path out = tmp.resolve("rm");
        var r = SftTrainingTest.keel("reward", "--model", base.toString(), "--data", markerPairs().toString(),
                "--out", out.toString(), "--epochs", "3", "--batch-size", "8", "--lr", "3e-3",
                "--eval-fraction", "0.25", "--log-every", "5", "--center-rewards-coefficient", "0.01");
        assertEquals(0, r.code(), r.err());
        JsonNode eval = lastEval(out);
        System.out.println("Reward model marker task, held out: " + eval);
        assertTrue(eval.get("eval_accuracy").asDouble() > 0.9, eval.toString());
        for (String k : List.of("eval_margin", "eval_min_reward", "eval_mean_reward", "eval_max_reward")) {
            assertTrue(eval.has(k), "metrics lack " + k);
        }
        assertTrue(eval.get("eval_min_reward").asDouble() <= eval.get("eval_mean_reward").asDouble());
        assertTrue(eval.get("eval_mean_reward").asDouble() <= eval.get("eval_max_reward").asDouble());
        JsonNode cfg = TestSupport.readJson(out.resolve("config.json"));
        assertEquals("LlamaForSequenceClassification", cfg.get("architectures").get(0).asText());
        assertEquals(1, cfg.get("num_labels").asInt());
        var h = dev.keel.model.io.Safetensors.readHeader(out.resolve("model.safetensors"));
        assertTrue(h.entries().containsKey("score.weight") && !h.entries().containsKey("lm_head.weight"));
        // keel score ranks "great" above "awful" for a prompt it never saw
        Path recs = tmp.resolve("score.jsonl");
        Files.writeString(recs, "{\"prompt\": \"The popcorn was\", \"completion\": \" great.\"}\n"
                + "{\"prompt\": \"The popcorn was\", \"completion\": \" awful.\"}\n");
        var s = SftTrainingTest.keel("score", "--reward", out.toString(), "--data", recs.toString());
        assertEquals(0, s.code(), s.err());
        List<JsonNode> lines = s.out().lines().map(TestSupport::parse).toList();
        assertTrue(lines.get(0).get("reward").asDouble() > lines.get(1).get("reward").asDouble(), s.out());
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(out, null, null));
        assertTrue(e.getMessage().contains("scalar head"), e.getMessage());
    }

    @Test
    void aRewardModelRunResumesFromItsCheckpoint() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path out = tmp.resolve("rm-resume");
        String[] args = {"reward", "--model", base.toString(), "--data", markerPairs().toString(), "--out", out.toString(),
            "--max-steps", "4", "--save-every", "2", "--batch-size", "8", "--lr", "1e-3", "--log-every", "1"};
        var first = SftTrainingTest.keel(args);
        assertEquals(0, first.code(), first.err());
        String[] resume = java.util.Arrays.copyOf(args, args.length + 1);
        resume[args.length] = "--resume";
        var second = SftTrainingTest.keel(resume);
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("resuming from") && second.err().contains("checkpoint-2"), second.err());
    }

    @Test
    void theDpoGradientRaisesTheChosenAndLowersTheRejectedLogProb() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 6);
        CausalLM m = ModelFiles.load(base, null, null);
        List<PreferencePair> pairs;
        try (Tokenizer tok = Tokenizer.load(base)) {
            pairs = PreferenceData.read(markerPairs(), tok, null, 10_000, 64, 32, Truncation.KEEP_START).pairs().subList(0, 4);
        }
        double[] before = logps(m, pairs);
        m.parameters().forEach(t -> t.set_requires_grad(true));
        try (PointerScope scope = new PointerScope()) {
            new DpoTask(m, 0, DpoConfig.defaults().withReferenceFree(true), ReferenceLogps.referenceFree()).forward(pairs).lossSum().backward();
            try (NoGradGuard ng = new NoGradGuard()) {
                for (Tensor t : m.parameters()) {
                    t.sub_(t.grad().mul(Tensors.s(0.05)));       // one plain gradient-descent step
                }
            }
        }
        double[] after = logps(m, pairs);
        for (int i = 0; i < pairs.size(); i++) {
            assertTrue(after[2 * i] > before[2 * i], "chosen log-prob of pair " + i + ": " + before[2 * i] + " -> " + after[2 * i]);
            assertTrue(after[2 * i + 1] < before[2 * i + 1], "rejected log-prob of pair " + i);
        }
    }

    private static double[] logps(CausalLM m, List<PreferencePair> pairs) {
        List<ScoringRecord> recs = new ArrayList<>();
        for (PreferencePair p : pairs) {
            recs.add(new ScoringRecord(p.line(), p.promptIds(), p.chosenIds()));
            recs.add(new ScoringRecord(p.line(), p.promptIds(), p.rejectedIds()));
        }
        return SequenceScorer.score(m, recs, 8, 0).stream().mapToDouble(SequenceScorer.Score::logProb).toArray();
    }

    @Test
    void promptAndCompletionsAreTokenizedApartAsTrlDoes() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("p.jsonl");
        // the prompt ends mid-word; the completions start with the rest of it or a space
        Files.writeString(f, "{\"prompt\": \"The mov\", \"chosen\": \"ie was great.\", \"rejected\": \" was bad.\", \"margin\": 1.5}\n");
        try (Tokenizer tok = Tokenizer.load(base)) {
            PreferencePair p = PreferenceData.read(f, tok, null, 10_000, 64, 32, Truncation.KEEP_START).pairs().get(0);
            assertTrue(java.util.Arrays.equals(tok.encode("The mov", true), p.promptIds()));
            long[] c = tok.encode("ie was great.", false);
            assertEquals(c.length + 1, p.chosenIds().length, "EOS appended");
            assertTrue(java.util.Arrays.equals(c, java.util.Arrays.copyOf(p.chosenIds(), c.length)));
            assertEquals(tok.eosId(), p.chosenIds()[c.length]);
            assertEquals(1.5, p.margin(), 0);
        }
    }

    @Test
    void aMissingRejectedIsNamedWithFileAndLineAndNoFolderIsMade() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n{\"prompt\": \"a\", \"chosen\": \" b\"}\n");
        Path out = tmp.resolve("none");
        var r = SftTrainingTest.keel("dpo", "--model", base.toString(), "--data", f.toString(), "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(f + ":2") && r.err().contains("'rejected'"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void labelSmoothingOnSigmoidWarnsThatCurrentTrlWouldIgnoreIt() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("bad-ls.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \" b\"}\n");
        var r = SftTrainingTest.keel("dpo", "--model", base.toString(), "--data", f.toString(), "--out",
                tmp.resolve("ls").toString(), "--label-smoothing", "0.1");
        assertTrue(r.err().contains("warning: --label-smoothing 0.1 with sigmoid trains cDPO")
                && r.err().contains("current TRL ignores label_smoothing for sigmoid"), r.err());
        var robust = SftTrainingTest.keel("dpo", "--model", base.toString(), "--data", f.toString(), "--out",
                tmp.resolve("ls").toString(), "--label-smoothing", "0.1", "--loss-type", "robust");
        assertFalse(robust.err().contains("warning"), robust.err());
    }

    @Test
    void conversationalPairsRenderThePromptWithTheGenerationPrompt() throws IOException {
        Path base = TinyModels.llama(tmp.resolve("base"), 4);
        Path f = tmp.resolve("conv.jsonl");
        Files.writeString(f, "{\"prompt\": [{\"role\": \"user\", \"content\": \"The movie?\"}], "
                + "\"chosen\": [{\"role\": \"assistant\", \"content\": \"great\"}], "
                + "\"rejected\": [{\"role\": \"assistant\", \"content\": \"bad\"}]}\n");
        try (Tokenizer tok = Tokenizer.load(base)) {
            var t = dev.keel.chat.ChatTemplate.of(TinyModels.CHAT_TEMPLATE,
                    dev.keel.chat.ChatTemplate.specialTokens(tok.config()));
            PreferencePair p = PreferenceData.read(f, tok, t, 10_000, 64, 32, Truncation.KEEP_START).pairs().get(0);
            assertEquals("<|endoftext|>user: The movie?\n<|endoftext|>assistant: ", tok.decode(p.promptIds(), false));
            assertEquals("great\n", tok.decode(p.chosenIds(), false));
            assertEquals("bad\n", tok.decode(p.rejectedIds(), false));
        }
    }
}
