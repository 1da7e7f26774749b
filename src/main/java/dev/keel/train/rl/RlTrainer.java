package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;
import dev.keel.dist.Distributed;
import dev.keel.loss.AdaptiveKlController;
import dev.keel.model.CausalLM;
import dev.keel.reward.RewardSource;
import dev.keel.train.Checkpoints;
import dev.keel.train.FusedAdamW;
import dev.keel.train.MetricsLog;
import dev.keel.train.ModelState;
import dev.keel.train.OptimConfig;
import dev.keel.train.Optimizers;

/**
 * Reward-based fine-tuning (docs/ALGORITHMS.md §4, §5), one loop for every {@link RlAlgorithm}: each iteration
 * samples completions for a batch of prompts ({@link RolloutScorer}), asks the algorithm for its targets, and
 * takes epochs of minibatch steps on the algorithm's loss ({@link RlUpdater}), keeping the policy near the
 * reference with a KL penalty. Writes {@code metrics.jsonl} (TRL's metric names) and the final policy.
 *
 * <p>Data-parallel ({@link #distributed}; PPO): every rank draws the same prompts, samples and scores its
 * {@link Distributed#shard share} of them, and the updates run as {@link RlUpdater} says; rank 0 alone writes.
 */
public final class RlTrainer {
    private final RlConfig cfg;
    private final OptimConfig optim;
    private final CausalLM policy;
    private final CausalLM reference;
    private final Critic critic;
    private final RolloutScorer scorer;
    private final Prompts prompts;
    private final Path out;
    private Consumer<Map<String, Object>> listener = m -> { };
    private java.util.function.IntConsumer afterIteration = it -> { };
    private Consumer<String> info = m -> { };
    private int saveEvery;
    private int saveTotalLimit = 2;
    private Distributed dist = Distributed.single();

    /**
     * @param critic the value model, required by algorithms that {@link RlAlgorithm#usesCritic use one} and
     *               ignored (may be null) otherwise
     * @param eos    token ids that end a completion; at least one
     */
    public RlTrainer(RlConfig cfg, OptimConfig optim, CausalLM policy, CausalLM reference, Critic critic,
                     RewardSource reward, Prompts prompts, long padId, Set<Long> eos, Path out) {
        if (cfg.algorithm().usesCritic() && critic == null) {
            throw new IllegalArgumentException(cfg.algorithm().name() + " needs a value model");
        }
        if (eos.isEmpty()) {
            throw new KeelException("the policy has no EOS token: RL fine-tuning needs one to end completions");
        }
        if (reference == policy && policy.adapters() == null) {
            throw new IllegalArgumentException("the reference is the policy itself only when the policy has LoRA "
                    + "adapters (switched off for the reference); pass a model of its own");
        }
        if (policy.adapters() != null && cfg.kl().refEmaDecay() > 0) {
            throw new KeelException("--ref-ema-decay with LoRA is not supported: an EMA of a LoRA policy would need "
                    + "a full copy of its merged weights; leave out --ref-ema-decay (the reference is then the base "
                    + "model with the adapters off)");
        }
        this.cfg = cfg;
        this.optim = optim;
        this.policy = policy;
        // an EMA reference moves; it must never be a model something else still uses (an experiment's shared
        // SFT model, say), so it moves a copy of its own
        this.reference = cfg.kl().refEmaDecay() > 0 ? reference.copy() : reference;
        this.critic = cfg.algorithm().usesCritic() ? critic : null;
        this.scorer = new RolloutScorer(cfg, policy, this.reference, this.critic, reward, prompts, padId, eos);
        this.prompts = prompts;
        this.out = out;
    }

    /** Called with each iteration's metrics line. */
    public RlTrainer onLog(Consumer<Map<String, Object>> l) {
        this.listener = l;
        return this;
    }

    /** Called after each iteration with the number of iterations done (e.g. to evaluate the policy on the way). */
    public RlTrainer onIteration(java.util.function.IntConsumer l) {
        this.afterIteration = l;
        return this;
    }

    /**
     * Writes a checkpoint every {@code every} iterations (0 = none), keeping the newest {@code keep}: the policy,
     * the value model, a moving reference, the optimizer, libtorch's generator and the run's position.
     */
    public RlTrainer checkpoints(int every, int keep) {
        if (every < 0 || keep < 1) {
            throw new IllegalArgumentException("--save-every must be >= 0 and --save-total-limit >= 1");
        }
        this.saveEvery = every;
        this.saveTotalLimit = keep;
        return this;
    }

    /**
     * Trains as one rank of {@code d} (a single process by default); the config's batch is the whole rollout
     * over all ranks.
     */
    public RlTrainer distributed(Distributed d) {
        requireDataParallel(cfg.algorithm(), d);
        this.dist = d;
        return this;
    }

    /** Refuses a data-parallel run of a method whose targets and loss are not written for one. */
    public static void requireDataParallel(RlAlgorithm<?> algorithm, Distributed d) {
        if (d.size() > 1 && !algorithm.dataParallel()) {
            throw new KeelException(algorithm.name() + " with these options does not train data-parallel yet (ppo, "
                    + "rloo and grpo do, grpo not with --mask-truncated-completions under --loss-type bnpo or dapo); run "
                    + "it as one process (without torchrun or keel launch)");
        }
    }

    /** Called with progress messages (resuming). */
    public RlTrainer onInfo(Consumer<String> l) {
        this.info = l;
        return this;
    }

    /** Runs every iteration, writes metrics.jsonl and the final policy; returns the last metrics line. */
    public Map<String, Object> run(ModelState policyState) {
        return run(policyState, false);
    }

    /**
     * Runs the iterations left, from the newest checkpoint in the output folder when {@code resume} (and from
     * the start when there is none), and ends with the weights an uninterrupted run would have.
     */
    public Map<String, Object> run(ModelState policyState, boolean resume) {
        if (dist.isMain()) {
            MetricsLog.createFolder(out);
        }
        torch.manual_seed(cfg.seed());
        if (reference != policy) {
            reference.parameters().forEach(t -> t.set_requires_grad(false));
        }
        policy.parameters().forEach(t -> t.set_requires_grad(true));
        Map<String, Tensor> trainable = new LinkedHashMap<>();
        policy.trainable().forEach((k, v) -> trainable.put("policy." + k, v));
        if (critic != null) {
            critic.model().parameters().forEach(t -> t.set_requires_grad(true));
            critic.model().trainable().forEach((k, v) -> trainable.put("value." + k, v));
        }
        FusedAdamW opt = Optimizers.adamW(trainable, optim);
        RlUpdater updater = new RlUpdater(cfg, optim, policy, critic, opt, dist);
        PromptOrder order = new PromptOrder(prompts.size(), cfg.seed());
        RlState state = new RlState(policyState, trainable, critic != null ? critic.model() : null,
                cfg.kl().refEmaDecay() > 0 ? reference : null);
        Checkpoints checkpoints = new Checkpoints(out, saveTotalLimit);
        Path ckpt = resume ? Checkpoints.latest(out) : null;
        if (resume && ckpt == null) {
            info.accept("keel: --resume given but " + out + " has no complete checkpoint; starting fresh");
        }
        double klCoef = cfg.kl().coef();
        long episodes = 0;
        int start = 0;
        if (ckpt != null) {
            JsonNode s = Checkpoints.restore(ckpt, state, opt);
            if (s.path("seed").asLong() != cfg.seed() || !s.path("algorithm").asText().equals(cfg.algorithm().name())) {
                throw new KeelException(ckpt + " was written by " + s.path("algorithm").asText() + " with --seed "
                        + s.path("seed").asLong() + ", not " + cfg.algorithm().name() + " with --seed " + cfg.seed()
                        + "; resume with the same settings");
            }
            start = s.path("iteration").asInt();
            episodes = s.path("episodes").asLong();
            klCoef = s.path("kl_coef").asDouble();
            updater.resumeAt(s.path("updates").asLong());
            for (int i = 0; i < start; i++) {
                order.next(cfg.sampling().batchPrompts()); // the prompts the finished iterations drew
            }
            info.accept("keel: resuming from " + ckpt + " (iteration " + start + ")");
        }
        Map<String, Object> last = Map.of();
        try (MetricsLog log = dist.isMain() ? MetricsLog.open(out.resolve("metrics.jsonl"), ckpt != null ? start : -1) : null;
             dev.keel.train.StopSignal stop = dev.keel.train.StopSignal.install()) {
            for (int it = start; it < cfg.sampling().iterations(); it++) {
                long t0 = System.nanoTime();
                List<Integer> idx = order.next(cfg.sampling().batchPrompts());
                List<Integer> mine = dist.shard(idx);
                int offset = dist.shardStart(idx.size()) * cfg.algorithm().samplesPerPrompt();
                RolloutStats rs;
                UpdateStats us;
                long t1;
                try (PointerScope scope = new PointerScope()) {
                    RolloutScorer.Result r = scorer.rollout(mine, klCoef, it, offset);
                    rs = r.stats().overRanks(dist, mine.size() * cfg.algorithm().samplesPerPrompt(), cfg.rolloutSize());
                    t1 = System.nanoTime();
                    us = updater.update(cfg.algorithm(), r.scored(), klCoef, it, offset);
                }
                long t2 = System.nanoTime();
                episodes += cfg.rolloutSize();
                Map<String, Object> line = metrics(it + 1, episodes, rs, us, t0, t1, t2, klCoef);
                if (cfg.kl().adaptive().isPresent()) {
                    RlConfig.Adaptive a = cfg.kl().adaptive().get();
                    klCoef = AdaptiveKlController.update(klCoef, rs.kl(), a.target(), a.horizon(), cfg.rolloutSize());
                }
                if (cfg.kl().refEmaDecay() > 0) {
                    emaReference();
                }
                if (log != null) {
                    log.write(line);
                }
                listener.accept(line);
                last = line;
                if (saveEvery > 0 && (it + 1) % saveEvery == 0 && it + 1 < cfg.sampling().iterations() && dist.isMain()) {
                    checkpoints.save(it + 1, state, opt, position(it + 1, episodes, klCoef, updater.updates()));
                }
                afterIteration.accept(it + 1);
                if (it + 1 < cfg.sampling().iterations()) {
                    stop.check("iteration", it + 1, out);
                }
            }
        }
        if (dist.isMain()) {
            policyState.save(out);
        }
        return last;
    }

    /** What a checkpoint records of the run besides tensors. */
    private ObjectNode position(int iteration, long episodes, double klCoef, long updates) {
        ObjectNode s = new ObjectMapper().createObjectNode();
        s.put("algorithm", cfg.algorithm().name());
        s.put("iteration", iteration);
        s.put("episodes", episodes);
        s.put("kl_coef", klCoef);
        s.put("updates", updates);
        s.put("seed", cfg.seed());
        return s;
    }

    /** The iteration's metrics line, in the order TRL logs them. */
    private static Map<String, Object> metrics(int step, long episodes, RolloutStats rs, UpdateStats us, long t0,
                                               long t1, long t2, double klCoef) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", (long) step);
        m.put("episode", episodes);
        m.put("time/generate_s", rs.generateSeconds());
        m.put("objective/kl", rs.kl());
        m.put("objective/entropy", rs.entropy());
        m.put("objective/non_score_reward", rs.nonScoreReward());
        m.put("objective/scores", rs.scores());
        m.put("objective/rlhf_reward", rs.rlhfReward());
        m.put("val/num_eos_tokens", (double) rs.numEos());
        m.put("val/mean_response_length", rs.meanResponseLength());
        m.put("policy/approxkl_avg", us.approxKl());
        m.put("policy/clipfrac_avg", us.clipFrac());
        m.put("policy/entropy_avg", us.entropy());
        m.put("loss/policy_avg", us.policyLoss());
        us.valueLoss().ifPresent(v -> m.put("loss/value_avg", v));
        us.valueClipFrac().ifPresent(v -> m.put("val/clipfrac_avg", v));
        m.put("val/ratio", us.ratio());
        m.putAll(us.extra());
        m.put("lr", us.lr());
        // rollout = sampling (time/generate_s) + scoring (time/score_s: reward, log-probs, values)
        m.put("time/rollout_s", (t1 - t0) / 1e9);
        m.put("time/score_s", (t1 - t0) / 1e9 - rs.generateSeconds());
        m.put("time/update_s", (t2 - t1) / 1e9);
        m.put("kl_coef", klCoef);
        return m;
    }

    /** ref ← d·ref + (1 − d)·policy (an exponential moving average of the policy as the reference). */
    private void emaReference() {
        double d = cfg.kl().refEmaDecay();
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : reference.weights().entrySet()) {
                Tensor p = policy.weights().get(e.getKey());
                e.getValue().mul_(s(d)).add_(p.detach().mul(s(1 - d)));
            }
        }
    }

    /** Prompts in a fresh seeded shuffle each pass, drawn from the end. */
    private static final class PromptOrder {
        private final int size;
        private final Random random;
        private final List<Integer> pool = new ArrayList<>();

        PromptOrder(int size, long seed) {
            this.size = size;
            this.random = new Random(seed);
        }

        List<Integer> next(int n) {
            List<Integer> idx = new ArrayList<>();
            while (idx.size() < n) {
                if (pool.isEmpty()) {
                    for (int i = 0; i < size; i++) {
                        pool.add(i);
                    }
                    Collections.shuffle(pool, random);
                }
                idx.add(pool.remove(pool.size() - 1));
            }
            return idx;
        }
    }
}
