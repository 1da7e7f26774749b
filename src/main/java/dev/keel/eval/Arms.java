package dev.keel.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.function.Consumer;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

import dev.keel.KeelException;
import dev.keel.data.PreferencePair;
import dev.keel.data.Repeat;
import dev.keel.loss.DpoLossType;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.LrSchedule;
import dev.keel.train.Metric;
import dev.keel.train.OptimConfig;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.Task;
import dev.keel.train.TrainConfig;
import dev.keel.train.TrainingLoop;
import dev.keel.train.rl.Critic;
import dev.keel.train.rl.Prompts;
import dev.keel.train.rl.RlAlgorithm;
import dev.keel.train.rl.RlConfig;
import dev.keel.train.rl.RlTrainer;

/**
 * The methods the sentiment experiment compares, each started from the SFT model and evaluated the same way
 * (fresh samples on the held-out prompts: gold reward, KL to the SFT model, win rate, cost).
 */
final class Arms {
    private final ExperimentConfig cfg;
    private final Path out;
    private final RewardSource gold;
    private final Consumer<String> log;
    private final Tokenizer tok;
    private final long pad;
    private final Set<Long> eos;
    private final CausalLM sft;
    private final Path sftDir;
    private final List<long[]> evalPrompts;
    private final List<String> evalTexts;
    private final PolicyEval.Samples sftSamples;

    Arms(ExperimentConfig cfg, Path out, RewardSource gold, Consumer<String> log, Tokenizer tok, CausalLM sft,
         Path sftDir, List<long[]> evalPrompts, List<String> evalTexts, PolicyEval.Samples sftSamples) {
        this.cfg = cfg;
        this.out = out;
        this.gold = gold;
        this.log = log;
        this.tok = tok;
        this.pad = tok.padId();
        this.eos = Set.of(tok.eosId());
        this.sft = sft;
        this.sftDir = sftDir;
        this.evalPrompts = evalPrompts;
        this.evalTexts = evalTexts;
        this.sftSamples = sftSamples;
    }

    /** The held-out preference pairs (the reward model's) and their reference log-probs, for DPO's accuracy. */
    void heldOutPairs(List<PreferencePair> pairs, ReferenceLogps reference) {
        this.heldOut = pairs;
        this.heldOutReference = reference;
    }

    private List<PreferencePair> heldOut = List.of();
    private ReferenceLogps heldOutReference;

    /** A DPO-family run on {@code pairs}, reported under {@code family}. */
    SentimentExperiment.MethodResult dpo(DpoLossType type, double beta, Family family, List<PreferencePair> pairs,
                                         ReferenceLogps reference, Cost.Spent referencePass) {
        String name = family.label() + " \u03b2=" + beta;
        log.accept("   " + name);
        Cost c = Cost.start();
        CausalLM policy = ModelFiles.load(sftDir, null, null);
        Path dir = out.resolve(name.toLowerCase().replaceAll("[^a-z0-9.]+", "-"));
        List<Map<String, Object>> curve = new ArrayList<>();
        DpoConfig dpo = new DpoConfig(type, beta, 0, false);
        TrainingLoop<PreferencePair> loop = loop(cfg, new CausalLMState(policy, sftDir), new DpoTask(policy, pad, dpo,
                reference), 1e-4, cfg.training().dpoEpochs(), 16, dir, curve);
        Trace path = new Trace(loop.totalSteps(pairs.size()));
        loop.onStep(step -> path.at(step, policy)).run(pairs, List.of(), false);
        Cost.Spent spent = c.stop().minus(path.cost).plus(referencePass);
        return finish(name, family, "\u03b2=" + beta, policy, spent, curve, path.points, Optional.of(pairAccuracy(policy, dpo)));
    }

    /**
     * A preference method other than DPO's family, trained by the loop on {@code data} as DPO is (same learning
     * rate, epochs and batch), reported under {@code family}.
     */
    <T> SentimentExperiment.MethodResult offline(Family family, String setting,
                                                 java.util.function.Function<CausalLM, Task<T>> task, List<T> data) {
        String name = family.label() + " " + setting;
        log.accept("   " + name);
        Cost c = Cost.start();
        CausalLM policy = ModelFiles.load(sftDir, null, null);
        Path dir = out.resolve(name.toLowerCase().replaceAll("[^a-z0-9.]+", "-"));
        List<Map<String, Object>> curve = new ArrayList<>();
        TrainingLoop<T> loop = loop(cfg, new CausalLMState(policy, sftDir), task.apply(policy), 1e-4,
                cfg.training().dpoEpochs(), 16, dir, curve);
        Trace path = new Trace(loop.totalSteps(data.size()));
        loop.onStep(step -> path.at(step, policy)).run(data, List.of(), false);
        Cost.Spent spent = c.stop().minus(path.cost);
        return finish(name, family, setting, policy, spent, curve, path.points, Optional.empty());
    }

    /** DPO's implicit-reward accuracy on the held-out pairs, [β(c − r) &gt; 0] (TRL's eval_rewards/accuracies). */
    private Intervals.Proportion pairAccuracy(CausalLM policy, DpoConfig dpo) {
        DpoTask task = new DpoTask(policy, pad, dpo, heldOutReference);
        double right = 0;
        for (int i = 0; i < heldOut.size(); i += 32) {
            try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                for (Metric m : task.forward(heldOut.subList(i, Math.min(heldOut.size(), i + 32))).metrics()) {
                    right += m.name().equals("rewards/accuracies") ? m.value() : 0;
                }
            }
        }
        return Intervals.wilson((int) Math.round(right), heldOut.size());
    }

    SentimentExperiment.MethodResult rl(RlAlgorithm<?> algo, Family family, double kl, RewardSource reward, Prompts prompts,
                                        int iterations) {
        int k = algo.samplesPerPrompt();
        return rl(algo, family, "\u03b2=" + kl, kl, reward, prompts, iterations,
                k == 1 ? cfg.methods().rlBatch() : Math.max(2, cfg.methods().rlBatch() / k), 0);
    }

    /** An RL run of {@code iterations} rollouts of {@code batchPrompts} prompts, with an EMA reference when d &gt; 0. */
    SentimentExperiment.MethodResult rl(RlAlgorithm<?> algo, Family family, String setting, double kl, RewardSource reward,
                                        Prompts prompts, int iterations, int batchPrompts, double refEmaDecay) {
        String name = family.label() + " " + setting;
        log.accept("   " + name);
        Cost c = Cost.start();
        CausalLM policy = ModelFiles.load(sftDir, null, null);
        Critic critic = algo.usesCritic() ? Critic.start(sftDir, tok, reward, null, log) : null;
        int k = algo.samplesPerPrompt();
        double penalty = cfg.methods().missingEosPenalty();
        RlConfig rc = RlConfig.defaults(algo).withSeed(cfg.seed())
                .withSampling(s -> new RlConfig.Sampling(iterations, batchPrompts, cfg.data().maxNewTokens(), 1.0))
                .withUpdates(u -> algo.needsWholeRollout() ? new RlConfig.Updates(1, 0, 0.2)
                        : new RlConfig.Updates(2, Math.max(1, batchPrompts * k / 2), 0.2))
                .withKl(p -> p.withCoef(kl).withRefEmaDecay(refEmaDecay))
                .withScores(s -> s.withMissingEosPenalty(penalty > 0 ? OptionalDouble.of(penalty) : OptionalDouble.empty()));
        Path dir = out.resolve(name.toLowerCase().replaceAll("[^a-z0-9.]+", "-"));
        List<Map<String, Object>> curve = new ArrayList<>();
        Trace path = new Trace(iterations);
        new RlTrainer(rc, RL_OPTIM, policy, sft, critic, reward, prompts, pad, eos, dir).onLog(curve::add)
                .onIteration(it -> path.at(it, policy)).run(new CausalLMState(policy, sftDir));
        Cost.Spent spent = c.stop().minus(path.cost);
        return finish(name, family, setting, policy, spent, curve, path.points, Optional.empty());
    }

    /**
     * The evaluations along one run: after 1/P, 2/P, ... of its steps ({@code evalPoints} P; the last is the
     * final evaluation in {@link #finish}), with their cost kept apart from the method's.
     */
    private final class Trace {
        final long total;
        final List<SentimentExperiment.PathPoint> points = new ArrayList<>();
        Cost.Spent cost = Cost.Spent.NONE;

        Trace(long total) {
            this.total = total;
        }

        void at(long step, CausalLM policy) {
            int p = cfg.training().evalPoints();
            for (int j = 1; j < p; j++) {
                if (step == Math.max(1, Math.round((double) total * j / p)) && step < total) {
                    Cost c = Cost.start();
                    PolicyEval.Result e = evaluate(policy);
                    points.add(new SentimentExperiment.PathPoint((double) step / total, e.kl(), e.goldReward()));
                    cost = cost.plus(c.stop());
                    return;
                }
            }
        }
    }

    /** Fresh samples on the held-out prompts: gold reward, KL to the SFT model, win rate against it. */
    PolicyEval.Result evaluate(CausalLM policy) {
        PolicyEval.Samples s = PolicyEval.sample(policy, evalPrompts, evalTexts, cfg.data().maxNewTokens(), cfg.seed() + 99,
                eos, pad, ids -> tok.decode(ids, true), gold, 64);
        double kl = PolicyEval.kl(policy, sft, evalPrompts, s, pad, 64);
        return new PolicyEval.Result(PolicyEval.mean(s.gold()), PolicyEval.std(s.gold()), kl,
                PolicyEval.winRate(s.gold(), sftSamples.gold()), s);
    }

    SentimentExperiment.MethodResult bestOfN(int n, ModelReward learned) {
        Cost c = Cost.start();
        List<long[]> best = new ArrayList<>();
        List<String> bestText = new ArrayList<>();
        List<long[]> rep = Repeat.each(evalPrompts, n);
        List<String> repText = Repeat.each(evalTexts, n);
        PolicyEval.Samples s = PolicyEval.sample(sft, rep, repText, cfg.data().maxNewTokens(), cfg.seed() + 7 * n, eos, pad,
                ids -> tok.decode(ids, true), new ScoreOnly(), 64);
        Optional<RewardSource.IdsScorer> byIds = learned.ids(tok);
        double[] r = byIds.isPresent() ? byIds.get().score(rep, s.tokens()) : learned.score(repText, s.texts(), s.ended());
        for (int i = 0; i < evalPrompts.size(); i++) {
            int arg = i * n;
            for (int j = 1; j < n; j++) {
                if (r[i * n + j] > r[arg]) {
                    arg = i * n + j;
                }
            }
            best.add(s.tokens().get(arg));
            bestText.add(s.texts().get(arg));
        }
        double[] g = gold.score(evalTexts, bestText);
        // (the gold reward reads text only; whether a completion ended does not change it)
        PolicyEval.Samples chosen = new PolicyEval.Samples(best, bestText, g, null);
        Cost.Spent spent = c.stop();
        // KL of best-of-N to its base policy: log N - (N - 1) / N (Stiennon et al. 2020, App. G; an upper bound)
        double kl = Math.log(n) - (n - 1.0) / n;
        PolicyEval.Result e = new PolicyEval.Result(PolicyEval.mean(g), PolicyEval.std(g), kl,
                PolicyEval.winRate(g, sftSamples.gold()), chosen);
        log.accept(String.format("   best-of-%d: gold %.3f, KL %.3f", n, e.goldReward(), kl));
        return new SentimentExperiment.MethodResult("Best-of-" + n, Family.BEST_OF_N, "N=" + n, e, spent, List.of(),
                List.of(new SentimentExperiment.PathPoint(1.0, kl, e.goldReward())), Optional.empty());
    }

    SentimentExperiment.MethodResult finish(String name, Family family, String setting, CausalLM policy, Cost.Spent spent,
                                            List<Map<String, Object>> curve, List<SentimentExperiment.PathPoint> path,
                                            Optional<Intervals.Proportion> pairAccuracy) {
        policy.parameters().forEach(t -> t.set_requires_grad(false));
        PolicyEval.Result e = evaluate(policy);
        List<SentimentExperiment.PathPoint> all = new ArrayList<>(path);
        all.add(new SentimentExperiment.PathPoint(1.0, e.kl(), e.goldReward()));
        log.accept(String.format("   %s: gold %.3f, KL %.3f, win rate %.2f, %.0f s", name, e.goldReward(), e.kl(),
                e.winRate(), spent.seconds()));
        System.gc();
        return new SentimentExperiment.MethodResult(name, family, setting, e, spent, curve, all, pairAccuracy);
    }

    /** The experiment's RL optimizer: constant learning rate 5e-5, ε 1e-5, clipping at 0.5. */
    private static final OptimConfig RL_OPTIM = OptimConfig.defaults(5e-5).withEps(1e-5).withSchedule(LrSchedule.CONSTANT)
            .withMaxGradNorm(0.5);

    static <T> TrainingLoop<T> loop(ExperimentConfig cfg, CausalLMState state, Task<T> task, double lr, int epochs, int batch,
                                     Path dir, List<Map<String, Object>> curve) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new KeelException(dir + ": " + e.getMessage(), e);
        }
        OptimConfig o = new OptimConfig(lr, 0.0, 0.9, 0.999, 1e-8, LrSchedule.COSINE, 0, 0.1, 1.0);
        TrainConfig t = new TrainConfig(epochs, 0, batch, 1, cfg.seed(), 5, 0, 0, 1, false);
        return new TrainingLoop<>(state, task, o, t, dir).onLog(curve::add).onInfo(s -> { });
    }

    /** A placeholder reward when only samples are wanted. */
    static final class ScoreOnly implements RewardSource {
        @Override
        public String name() {
            return "none";
        }

        @Override
        public double[] score(List<String> prompts, List<String> completions) {
            return new double[completions.size()];
        }
    }
}
