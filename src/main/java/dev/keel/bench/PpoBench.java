package dev.keel.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.model.CausalLM;
import dev.keel.model.EmbeddedModel;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.LrSchedule;
import dev.keel.train.OptimConfig;
import dev.keel.train.rl.Critic;
import dev.keel.train.rl.Ppo;
import dev.keel.train.rl.Prompts;
import dev.keel.train.rl.RlConfig;
import dev.keel.train.rl.RlTrainer;

/**
 * One PPO iteration at the tiny shape, split into its three phases: rollout (sampling with the KV cache),
 * scoring (the policy's log-probs as the sampler computed them, the reference's, the reward model's scores and the
 * value model's predictions: three passes over the rollout, as TRL's PPOTrainer) and update (PPO epochs over minibatches of
 * policy and value). The policy is the embedded keel-base model (exactly the tiny shape: 4 layers, d = 256,
 * vocab 4,096); the reward model is keel-base with a new score head, and the value model starts from it, as
 * {@code keel ppo} does. Prompts are the first {@link #PROMPT_LEN} tokens of review sentences. No row stops
 * early (the end-of-sequence id is one the model cannot sample), so both sides do exactly the same work.
 */
public final class PpoBench {
    public static final int BATCH = 16;
    public static final int PROMPT_LEN = 8;
    public static final int MINI_BATCH = 8;
    public static final int EPOCHS = 4;
    public static final double TEMPERATURE = 0.7;
    public static final double KL_COEF = 0.05;
    public static final double LR = 1e-6;
    /**
     * Untimed iterations before the timed ones, on both sides. Two, not one: Keel's heap settles over the first
     * iterations (its scoring lanes faulted about 80,000 fresh pages in the first iteration, 5,000-19,000 in the
     * second, a few thousand in the third, then next to none; docs/PERFORMANCE.md item 23), PyTorch's after one;
     * the bench times the steady state of a run of many iterations.
     */
    public static final int WARMUP = 2;

    private PpoBench() {}

    /** Median seconds of each phase over the timed iterations. */
    public record Result(double rollout, double scoring, double update) {
        public double seconds() {
            return rollout + scoring + update;
        }
    }

    /** Writes the policy, the reward model and the prompts into {@code dir} for both sides. */
    public static void prepare(Path dir) throws IOException {
        Path base = EmbeddedModel.path();
        Files.createDirectories(dir);
        CausalLM policy = ModelFiles.load(base, null, null);
        new CausalLMState(policy, base).save(dir.resolve("policy"));
        CausalLM rm = ModelFiles.load(base, null, null, Head.SCORE); // a new score head, as keel reward starts
        new CausalLMState(rm, base).save(dir.resolve("reward"));
        List<List<Long>> prompts = new ArrayList<>();
        try (Tokenizer tok = Tokenizer.load(base)) {
            for (String sentence : dev.keel.eval.SentimentData.reviewSentences()) {
                long[] ids = tok.encode(sentence, true);
                if (ids.length >= PROMPT_LEN) {
                    prompts.add(Arrays.stream(ids, 0, PROMPT_LEN).boxed().toList());
                    if (prompts.size() == BATCH) {
                        break;
                    }
                }
            }
        }
        new ObjectMapper().writeValue(dir.resolve("prompts.json").toFile(), prompts);
    }

    /** Runs {@link #WARMUP} untimed and {@code repeats} timed PPO iterations on the files {@link #prepare} wrote. */
    public static Result run(Path dir, int newTokens, int repeats) throws IOException {
        Path policyDir = dir.resolve("policy");
        CausalLM policy = ModelFiles.load(policyDir, null, null);
        CausalLM reference = ModelFiles.load(policyDir, null, null);
        CausalLM value = ModelFiles.load(dir.resolve("reward"), null, null, Head.SCORE);
        ModelReward reward = new ModelReward(dir.resolve("reward"), null, BATCH);
        List<long[]> ids = new ArrayList<>();
        for (JsonNode p : new ObjectMapper().readTree(dir.resolve("prompts.json").toFile())) {
            long[] a = new long[p.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = p.get(i).asLong();
            }
            ids.add(a);
        }
        try (Tokenizer tok = Tokenizer.load(policyDir)) {
            List<String> texts = ids.stream().map(a -> tok.decode(a, true)).toList();
            Prompts prompts = new Prompts(ids, texts, tok);
            RlConfig cfg = RlConfig.defaults(Ppo.defaults()).withSeed(1)
                    .withSampling(x -> new RlConfig.Sampling(WARMUP + repeats, BATCH, newTokens, TEMPERATURE))
                    .withUpdates(x -> new RlConfig.Updates(EPOCHS, MINI_BATCH, 0.2))
                    .withKl(x -> x.withCoef(KL_COEF));
            OptimConfig optim = OptimConfig.defaults(LR).withSchedule(LrSchedule.CONSTANT);
            // an id past the vocabulary: never sampled, so every response is newTokens long
            Set<Long> neverSampled = Set.of((long) policy.config().vocabSize());
            List<double[]> phases = new ArrayList<>();
            Files.createDirectories(dir.resolve("run"));
            new RlTrainer(cfg, optim, policy, reference, new Critic(value), reward, prompts, 0, neverSampled, dir.resolve("run"))
                    .onLog(m -> phases.add(new double[] {(Double) m.get("time/generate_s"), (Double) m.get("time/score_s"),
                            (Double) m.get("time/update_s")}))
                    .run(new CausalLMState(policy, policyDir));
            double[][] byPhase = new double[3][repeats];
            for (int i = 0; i < repeats; i++) {
                for (int k = 0; k < 3; k++) {
                    byPhase[k][i] = phases.get(WARMUP + i)[k];
                }
            }
            return new Result(TrainBench.median(byPhase[0]), TrainBench.median(byPhase[1]),
                    TrainBench.median(byPhase[2]));
        }
    }
}
