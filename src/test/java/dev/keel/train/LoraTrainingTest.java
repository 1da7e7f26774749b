package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

/**
 * Training with LoRA from the command line: LoRA-DPO learns the marker preference as well as full DPO, resumes
 * exactly, writes only adapters (in runs and checkpoints), and merged models score as base + adapter.
 */
class LoraTrainingTest {
    @TempDir
    static Path tmp;

    static Path base;

    @BeforeAll
    static void start() {
        TestSupport.init();
        base = TinyModels.llama(tmp.resolve("base"), 4);
    }

    private static TestSupport.Run keel(List<String> args, String... more) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of(more));
        TestSupport.Run r = TestSupport.keel(a.toArray(new String[0]));
        assertEquals(0, r.code(), r.err());
        return r;
    }

    private static List<String> dpo(Path data, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("dpo", "--model", base.toString(), "--data", data.toString(), "--out",
                out.toString(), "--beta", "0.1", "--batch-size", "8", "--eval-fraction", "0.25"));
        a.addAll(List.of(extra));
        return a;
    }

    @Test
    void loraDpoReachesTheHeldOutAccuracyOfFullDpoOnTheMarkerTask() throws IOException {
        Path data = PreferenceTrainingTest.markerPairs(Files.createDirectories(tmp.resolve("marker")));
        Path full = tmp.resolve("dpo-full");
        keel(dpo(data, full, "--epochs", "3", "--lr", "3e-3", "--log-every", "5"));
        Path lora = tmp.resolve("dpo-lora");
        keel(dpo(data, lora, "--epochs", "3", "--lr", "3e-2", "--log-every", "5", "--lora-r", "8", "--lora-alpha", "16",
                "--lora-target-modules", "all-linear"));
        double accFull = PreferenceTrainingTest.lastEval(full).get("eval_rewards/accuracies").asDouble();
        double accLora = PreferenceTrainingTest.lastEval(lora).get("eval_rewards/accuracies").asDouble();
        System.out.println("Marker task, held-out accuracy: full DPO " + accFull + ", LoRA-DPO (r 8, all-linear) " + accLora);
        assertTrue(accFull > 0.9, "full DPO " + accFull);
        assertTrue(accLora >= accFull - 0.05, "LoRA " + accLora + " against full " + accFull);
        assertTrue(Files.isRegularFile(lora.resolve(AdapterFiles.CONFIG)) && Files.isRegularFile(lora.resolve(AdapterFiles.WEIGHTS)));
        assertFalse(Files.exists(lora.resolve("model.safetensors")), "only the adapter is written");
        assertTrue(Files.size(lora.resolve(AdapterFiles.WEIGHTS)) * 2 < Files.size(full.resolve("model.safetensors")));
        assertEquals(base.toString(), TestSupport.readJson(lora.resolve(AdapterFiles.CONFIG)).get("base_model_name_or_path").asText());
    }

    @Test
    void loraDpoResumedFromItsMiddleCheckpointEndsAsTheUninterruptedRun() throws IOException {
        Path data = PreferenceTrainingTest.markerPairs(Files.createDirectories(tmp.resolve("resume-data")));
        Path run = tmp.resolve("dpo-resume");
        List<String> args = dpo(data, run, "--max-steps", "6", "--save-every", "2", "--log-every", "1", "--lr", "1e-2",
                "--lora-r", "4", "--lora-dropout", "0.1", "--lora-target-modules", "q_proj,v_proj,down_proj");
        keel(args);
        Path straight = Files.createDirectories(tmp.resolve("dpo-straight"));
        for (String f : List.of(AdapterFiles.WEIGHTS, "metrics.jsonl")) {
            Files.copy(run.resolve(f), straight.resolve(f));
        }
        Path ckpt = run.resolve("checkpoint-4");
        assertTrue(Files.isRegularFile(ckpt.resolve(AdapterFiles.WEIGHTS)) && Files.isRegularFile(ckpt.resolve("optimizer.pt")));
        assertFalse(Files.exists(ckpt.resolve("model.safetensors")), "a checkpoint keeps the adapter, not the base");
        TestSupport.Run resumed = keel(args, "--resume");
        assertTrue(resumed.err().contains("(step 4)"), resumed.err());
        Safetensors.Header a = Safetensors.readHeader(straight.resolve(AdapterFiles.WEIGHTS));
        Safetensors.Header b = Safetensors.readHeader(run.resolve(AdapterFiles.WEIGHTS));
        assertEquals(a.entries().keySet(), b.entries().keySet());
        for (String k : a.entries().keySet()) {
            float[] u = Tensors.toFloats(Safetensors.read(a, k));
            float[] v = Tensors.toFloats(Safetensors.read(b, k));
            for (int i = 0; i < u.length; i++) {
                assertEquals(u[i], v[i], 1e-7, k + "[" + i + "]");
            }
        }
        List<String> ma = Files.readAllLines(straight.resolve("metrics.jsonl"));
        List<String> mb = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(ma.size(), mb.size());
        for (int i = 0; i < ma.size(); i++) {
            JsonNode x = TestSupport.parse(ma.get(i));
            JsonNode y = TestSupport.parse(mb.get(i));
            String k = x.has("loss") ? "loss" : "eval_loss";
            assertEquals(x.get(k).asDouble(), y.get(k).asDouble(), 1e-7, "line " + (i + 1));
        }
    }

    /** An SFT adapter trained far enough from zero that base and base + adapter differ. */
    private static Path sftAdapter(String name, String... extra) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            int cut = s.lastIndexOf(' ');
            sb.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"completion\": \"").append(s.substring(cut)).append("\"}\n");
        }
        Path data = tmp.resolve(name + ".jsonl");
        Files.writeString(data, sb);
        Path out = tmp.resolve(name);
        List<String> a = new ArrayList<>(List.of("sft", "--model", base.toString(), "--data", data.toString(), "--out",
                out.toString(), "--max-steps", "8", "--lr", "2e-2", "--lora-r", "4"));
        a.addAll(List.of(extra));
        keel(a);
        return out;
    }

    @Test
    void aMergedModelScoresAndGeneratesAsTheBaseWithTheAdapter() throws IOException {
        Path adapter = sftAdapter("sft-merge", "--lora-target-modules", "all-linear");
        Path merged = tmp.resolve("merged");
        keel(List.of("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out", merged.toString()));
        assertTrue(Files.isRegularFile(merged.resolve("model.safetensors")) && Files.isRegularFile(merged.resolve("tokenizer.json")));
        Path recs = tmp.resolve("recs.jsonl");
        Files.writeString(recs, "{\"prompt\": \"The movie was\", \"completion\": \" great.\"}\n"
                + "{\"prompt\": \"This book\", \"completion\": \" seemed boring.\"}\n");
        List<String> withAdapter = keel(List.of("logprobs", "--model", base.toString(), "--adapter", adapter.toString(),
                "--data", recs.toString())).out().lines().toList();
        List<String> viaMerge = keel(List.of("logprobs", "--model", merged.toString(), "--data", recs.toString())).out().lines().toList();
        List<String> plain = keel(List.of("logprobs", "--model", base.toString(), "--data", recs.toString())).out().lines().toList();
        for (int i = 0; i < 2; i++) {
            double a = TestSupport.parse(withAdapter.get(i)).get("logprob").asDouble();
            assertEquals(a, TestSupport.parse(viaMerge.get(i)).get("logprob").asDouble(), 1e-4, "record " + i);
            assertTrue(Math.abs(a - TestSupport.parse(plain.get(i)).get("logprob").asDouble()) > 1e-2, "the adapter matters");
        }
        // decoding with a KV cache through the adapters gives the merged model's greedy tokens
        List<String> g = List.of("generate", "--prompt", "The food", "--temperature", "0", "--max-new-tokens", "8");
        String ga = keel(new ArrayList<>(g), "--model", base.toString(), "--adapter", adapter.toString()).out();
        String gm = keel(new ArrayList<>(g), "--model", merged.toString()).out();
        assertEquals(gm, ga);
    }

    @Test
    void aLoraRewardModelScoresThroughItsAdapterAsItsMergedModelDoes() throws IOException {
        Path data = PreferenceTrainingTest.markerPairs(Files.createDirectories(tmp.resolve("rm-data")));
        Path rm = tmp.resolve("rm-lora");
        keel(List.of("reward", "--model", base.toString(), "--data", data.toString(), "--out", rm.toString(),
                "--max-steps", "6", "--lr", "1e-2", "--lora-r", "4"));
        assertEquals("SEQ_CLS", TestSupport.readJson(rm.resolve(AdapterFiles.CONFIG)).get("task_type").asText());
        Path merged = tmp.resolve("rm-merged");
        keel(List.of("merge", "--model", base.toString(), "--adapter", rm.toString(), "--out", merged.toString()));
        assertTrue(TestSupport.readJson(merged.resolve("config.json")).get("architectures").get(0).asText()
                .endsWith("ForSequenceClassification"));
        Path recs = tmp.resolve("score.jsonl");
        Files.writeString(recs, "{\"prompt\": \"The movie was\", \"completion\": \" great.\"}\n");
        double a = TestSupport.parse(keel(List.of("score", "--reward", base.toString(), "--adapter", rm.toString(),
                "--data", recs.toString())).out().trim()).get("reward").asDouble();
        double b = TestSupport.parse(keel(List.of("score", "--reward", merged.toString(), "--data", recs.toString()))
                .out().trim()).get("reward").asDouble();
        assertEquals(b, a, 1e-4);
    }

    @Test
    void loraOptionsWithoutARankAndAnEmaReferenceWithLoraAreRefusedByName() throws IOException {
        Path data = PreferenceTrainingTest.markerPairs(Files.createDirectories(tmp.resolve("refused")));
        TestSupport.Run r = TestSupport.keel("dpo", "--model", base.toString(), "--data", data.toString(), "--out",
                tmp.resolve("no-rank").toString(), "--lora-alpha", "16");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--lora-alpha") && r.err().contains("need --lora-r"), r.err());
        Path prompts = tmp.resolve("prompts-ema.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"The movie\"}\n");
        r = TestSupport.keel("rloo", "--policy", base.toString(), "--reward", "builtin:count:great", "--prompts",
                prompts.toString(), "--out", tmp.resolve("ema").toString(), "--lora-r", "4", "--ref-ema-decay", "0.9",
                "--iterations", "1", "--batch-size", "1", "--num-generations", "2");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--ref-ema-decay with LoRA"), r.err());
    }

    @Test
    void ktoOrpoCpoAndOnlineDpoTrainAdaptersToo() throws IOException {
        Path pairs = PreferenceTrainingTest.markerPairs(Files.createDirectories(tmp.resolve("family")));
        StringBuilder unpaired = new StringBuilder();
        for (String l : Files.readAllLines(pairs)) {
            JsonNode n = TestSupport.parse(l);
            for (String side : List.of("chosen", "rejected")) {
                unpaired.append(TestSupport.JSON.createObjectNode().put("prompt", n.get("prompt").asText())
                        .put("completion", n.get(side).asText()).put("label", side.equals("chosen"))).append('\n');
            }
        }
        Path kto = tmp.resolve("family/kto.jsonl");
        Files.writeString(kto, unpaired);
        Path prompts = tmp.resolve("family/prompts.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"The movie\"}\n{\"prompt\": \"The food\"}\n");
        List<List<String>> runs = List.of(
                List.of("kto", "--model", base.toString(), "--data", kto.toString(), "--max-steps", "2"),
                List.of("orpo", "--model", base.toString(), "--data", pairs.toString(), "--max-steps", "2"),
                List.of("cpo", "--model", base.toString(), "--data", pairs.toString(), "--max-steps", "2"),
                List.of("online-dpo", "--policy", base.toString(), "--reward", "builtin:count:great", "--prompts",
                        prompts.toString(), "--iterations", "2", "--batch-size", "2", "--max-new-tokens", "4"));
        for (List<String> run : runs) {
            Path out = tmp.resolve("family-" + run.get(0));
            keel(run, "--out", out.toString(), "--lora-r", "2", "--lr", "1e-3");
            assertTrue(Files.isRegularFile(out.resolve(AdapterFiles.WEIGHTS)) && !Files.exists(out.resolve("model.safetensors")),
                    run.get(0));
            assertEquals(2, TestSupport.readJson(out.resolve("run_config.json")).at("/settings/lora/r").asInt(), run.get(0));
        }
    }

    @Test
    void mergeWithABadAdapterFailsInOneLineAndWritesNothing() throws IOException {
        Path bad = Files.createDirectories(tmp.resolve("bad-adapter"));
        Files.writeString(bad.resolve(AdapterFiles.CONFIG), "{\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": [\"qq_proj\"]}");
        Path out = tmp.resolve("never-written");
        TestSupport.Run r = TestSupport.keel("merge", "--model", base.toString(), "--adapter", bad.toString(), "--out",
                out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(AdapterFiles.CONFIG) && r.err().contains("'qq_proj'"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(Files.exists(out));
    }
}
