package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.keel.TestSupport;
import dev.keel.TinyModels;

/** {@code --bf16} and {@code --gradient-checkpointing} reach the trainers through the command line. */
class ComputeOptionsTest {
    @TempDir
    static Path tmp;
    static Path base;

    @BeforeAll
    static void setUp() throws IOException {
        TestSupport.init();
        base = TinyModels.llama(tmp.resolve("base"), 3);
        StringBuilder sft = new StringBuilder();
        StringBuilder pairs = new StringBuilder();
        StringBuilder prompts = new StringBuilder();
        for (String s : TinyModels.sentences().subList(0, 24)) {
            int cut = s.lastIndexOf(' ');
            sft.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"completion\": \"").append(s.substring(cut)).append("\"}\n");
            pairs.append("{\"prompt\": \"").append(s, 0, cut).append("\", \"chosen\": \" great.\", \"rejected\": \" bad.\"}\n");
            prompts.append("{\"prompt\": \"").append(s, 0, cut).append("\"}\n");
        }
        Files.writeString(tmp.resolve("sft.jsonl"), sft);
        Files.writeString(tmp.resolve("pairs.jsonl"), pairs);
        Files.writeString(tmp.resolve("prompts.jsonl"), prompts);
    }

    private static List<Double> losses(String out) throws IOException {
        List<Double> l = new ArrayList<>();
        for (String line : Files.readAllLines(tmp.resolve(out).resolve("metrics.jsonl"))) {
            l.add(TestSupport.parse(line).get("loss").asDouble());
        }
        return l;
    }

    private static List<Double> sft(String out, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("sft", "--model", base.toString(), "--data",
                tmp.resolve("sft.jsonl").toString(), "--out", tmp.resolve(out).toString(), "--max-steps", "4",
                "--batch-size", "8", "--lr", "1e-3", "--log-every", "1"));
        args.addAll(List.of(extra));
        TestSupport.Run r = TestSupport.keel(args.toArray(new String[0]));
        assertEquals(0, r.code(), r.err());
        return losses(out);
    }

    @Test
    void sftRunsInBf16AndCheckpointingChangesNothing() throws IOException {
        List<Double> f32 = sft("f32");
        List<Double> bf16 = sft("bf16", "--bf16");
        List<Double> both = sft("both", "--bf16", "--gradient-checkpointing");
        List<Double> ckpt = sft("ckpt", "--gradient-checkpointing");
        assertEquals(4, f32.size());
        for (int i = 0; i < f32.size(); i++) {
            assertEquals(f32.get(i), ckpt.get(i), 1e-5, "step " + (i + 1) + ": checkpointing alone");
            assertEquals(bf16.get(i), both.get(i), 1e-5, "step " + (i + 1) + ": checkpointing under bf16");
            assertEquals(f32.get(i), bf16.get(i), 0.05, "step " + (i + 1) + ": bf16 near f32");
        }
        assertTrue(!f32.equals(bf16), "--bf16 changes the arithmetic: " + f32 + " " + bf16);
    }

    @Test
    void dpoRunsWithBoth() throws IOException {
        TestSupport.Run r = TestSupport.keel("dpo", "--model", base.toString(), "--data", tmp.resolve("pairs.jsonl").toString(),
                "--out", tmp.resolve("dpo").toString(), "--max-steps", "3", "--batch-size", "4", "--log-every", "1",
                "--bf16", "--gradient-checkpointing");
        assertEquals(0, r.code(), r.err());
        List<Double> l = losses("dpo");
        assertEquals(Math.log(2), l.get(0), 1e-3, "the policy starts at its reference, both under bf16");
    }

    @ParameterizedTest
    @ValueSource(strings = {"grpo", "ppo"})
    void rlTrainersRunWithBoth(String algo) throws IOException {
        TestSupport.Run r = TestSupport.keel(algo, "--policy", base.toString(), "--reward", "builtin:count:great",
                "--prompts", tmp.resolve("prompts.jsonl").toString(), "--out", tmp.resolve(algo).toString(),
                "--iterations", "2", "--batch-size", "4", "--max-new-tokens", "6", "--bf16", "--gradient-checkpointing");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(tmp.resolve(algo).resolve("metrics.jsonl"));
        assertEquals(2, lines.size(), "one metrics line per iteration");
        for (String l : lines) {
            assertTrue(Double.isFinite(TestSupport.parse(l).get("loss/policy_avg").asDouble()), l);
        }
    }

    @Test
    void loraTrainersRunUnderBf16WithTheBaseHeldInBf16() throws IOException {
        String[] lora = {"--lora-r", "4", "--lora-target-modules", "all-linear"};
        List<Double> f32 = sft("lora-f32", lora);
        List<String> mixed = new ArrayList<>(List.of(lora));
        mixed.addAll(List.of("--bf16", "--gradient-checkpointing"));
        List<Double> bf16 = sft("lora-bf16", mixed.toArray(new String[0]));
        for (int i = 0; i < f32.size(); i++) {
            assertEquals(f32.get(i), bf16.get(i), 0.05, "step " + (i + 1) + ": LoRA under bf16 near float32");
        }
        assertTrue(f32.get(f32.size() - 1) < f32.get(0) && bf16.get(bf16.size() - 1) < bf16.get(0),
                "the adapters learn: " + f32 + " " + bf16);
        assertTrue(Files.exists(tmp.resolve("lora-bf16").resolve("adapter_model.safetensors")));

        TestSupport.Run dpo = TestSupport.keel("dpo", "--model", base.toString(), "--data", tmp.resolve("pairs.jsonl").toString(),
                "--out", tmp.resolve("lora-dpo").toString(), "--max-steps", "2", "--batch-size", "4", "--log-every", "1",
                "--lora-r", "4", "--bf16");
        assertEquals(0, dpo.code(), dpo.err());
        assertEquals(Math.log(2), losses("lora-dpo").get(0), 1e-3, "the reference is the base: adapters off, both in bf16");

        TestSupport.Run ppo = TestSupport.keel("ppo", "--policy", base.toString(), "--reward", "builtin:count:great",
                "--prompts", tmp.resolve("prompts.jsonl").toString(), "--out", tmp.resolve("lora-ppo").toString(),
                "--iterations", "2", "--batch-size", "4", "--max-new-tokens", "6", "--lora-r", "4", "--bf16");
        assertEquals(0, ppo.code(), ppo.err());
        for (String l : Files.readAllLines(tmp.resolve("lora-ppo").resolve("metrics.jsonl"))) {
            assertTrue(Double.isFinite(TestSupport.parse(l).get("loss/value_avg").asDouble()), l);
        }
    }

    @Test
    void bf16WithAnotherDtypeIsRefusedInOneLine() {
        TestSupport.Run r = TestSupport.keel("sft", "--model", base.toString(), "--data", tmp.resolve("sft.jsonl").toString(),
                "--out", tmp.resolve("refused").toString(), "--bf16", "--dtype", "bfloat16");
        assertEquals(1, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--bf16") && r.err().contains("--dtype float32"), r.err());
        assertTrue(!Files.exists(tmp.resolve("refused")), "nothing written");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sft", "reward", "dpo", "kto", "orpo", "cpo", "ppo", "rloo", "grpo", "online-dpo"})
    void everyTrainerDocumentsBoth(String command) {
        TestSupport.Run r = TestSupport.keel(command, "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--bf16") && r.out().contains("--gradient-checkpointing"), r.out());
    }
}
