package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.Rewards;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;

/** RL with LoRA: the reference is the policy's own base with the adapters off, and PPO trains and saves adapters. */
class LoraRlTest {
    @TempDir
    static Path tmp;

    static Path policyDir;

    @BeforeAll
    static void model() {
        TestSupport.init();
        policyDir = TinyModels.llama(tmp.resolve("policy"), 6);
    }

    @Test
    void theReferenceLogProbsOfALoraPolicyAreTheBaseModels() {
        CausalLM policy = ModelFiles.load(policyDir, null, null);
        policy.addLora(new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false));
        torch.manual_seed(2);
        TinyModels.randomiseLoraB(policy, 0.3);
        CausalLM base = ModelFiles.load(policyDir, null, null);
        try (Tokenizer tok = Tokenizer.load(policyDir)) {
            Prompts prompts = new Prompts(List.of(tok.encode("The movie was", true), tok.encode("This book", true)),
                    List.of("The movie was", "This book"), tok);
            RlConfig cfg = RlConfig.defaults(Grpo.of(2)).withSampling(s -> new RlConfig.Sampling(1, 2, 6, 1.0));
            RolloutScorer scorer = new RolloutScorer(cfg, policy, policy, null, Rewards.open("builtin:count:great", 4), prompts,
                    0, Set.of(tok.eosId()));
            Scored s = scorer.rollout(List.of(0, 1), 0.05, 0, 0).scored();
            Tensor expected;
            try (NoGradGuard ng = new NoGradGuard()) {
                expected = s.rollout().logProbs(base, 1.0)[0].mul(s.mask());
            }
            float[] ref = Tensors.toFloats(s.logpRef());
            float[] want = Tensors.toFloats(expected);
            float[] old = Tensors.toFloats(s.logpOld());
            double policyVsBase = 0;
            for (int i = 0; i < ref.length; i++) {
                assertEquals(want[i], ref[i], 1e-5, "token " + i);
                policyVsBase = Math.max(policyVsBase, Math.abs(old[i] - want[i]));
            }
            assertTrue(policyVsBase > 1e-2, "the policy (adapters on) differs from its reference: " + policyVsBase);
        }
    }

    @Test
    void ppoWithLoraTrainsAndSavesOnlyAdaptersForThePolicyAndTheValueModel() throws IOException {
        Path prompts = tmp.resolve("prompts.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"The movie\"}\n{\"prompt\": \"The food\"}\n");
        Path out = tmp.resolve("ppo-lora");
        TestSupport.Run r = TestSupport.keel("ppo", "--policy", policyDir.toString(), "--reward", "builtin:count:great",
                "--prompts", prompts.toString(), "--out", out.toString(), "--lora-r", "4", "--iterations", "3",
                "--batch-size", "2", "--max-new-tokens", "5", "--lr", "1e-2", "--save-every", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(out.resolve(AdapterFiles.WEIGHTS)), "the policy's adapter");
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        Path value = out.resolve("checkpoint-2").resolve("value_model");
        assertEquals("SEQ_CLS", TestSupport.readJson(value.resolve(AdapterFiles.CONFIG)).get("task_type").asText());
        assertFalse(Files.exists(value.resolve("model.safetensors")), "the value model's checkpoint is its adapter and head");
        assertEquals(3, Files.readAllLines(out.resolve("metrics.jsonl")).size());
    }

    @Test
    void ppoWithLoraResumedFromItsMiddleCheckpointEndsWithTheUninterruptedAdapters() throws IOException {
        Path prompts = tmp.resolve("prompts-resume.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"The movie\"}\n{\"prompt\": \"The food\"}\n{\"prompt\": \"This book\"}\n");
        Path out = tmp.resolve("ppo-lora-resume");
        String[] args = {"ppo", "--policy", policyDir.toString(), "--reward", "builtin:count:great", "--prompts",
                prompts.toString(), "--out", out.toString(), "--lora-r", "4", "--lora-target-modules", "all-linear",
                "--iterations", "6", "--batch-size", "2", "--max-new-tokens", "5", "--lr", "1e-2", "--save-every", "2"};
        TestSupport.Run r = TestSupport.keel(args);
        assertEquals(0, r.code(), r.err());
        byte[] adapter = Files.readAllBytes(out.resolve(AdapterFiles.WEIGHTS));
        List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
        String[] again = java.util.Arrays.copyOf(args, args.length + 1);
        again[args.length] = "--resume";
        r = TestSupport.keel(again);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("(iteration 4)"), r.err());
        assertTrue(java.util.Arrays.equals(adapter, Files.readAllBytes(out.resolve(AdapterFiles.WEIGHTS))),
                "the resumed run ends with the same adapter, byte for byte");
        List<String> resumed = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(metrics.size(), resumed.size());
        for (int i = 0; i < metrics.size(); i++) {
            for (String k : List.of("objective/scores", "objective/kl", "loss/policy_avg", "loss/value_avg")) {
                assertEquals(TestSupport.parse(metrics.get(i)).get(k).asDouble(), TestSupport.parse(resumed.get(i)).get(k).asDouble(),
                        1e-7, "iteration " + (i + 1) + ": " + k);
            }
        }
    }
}
