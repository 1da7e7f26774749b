package dev.keel.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

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
import dev.keel.train.ReferenceLogps;

/**
 * Iterative DPO (Xu et al. 2024's DPO-Iter): rounds of sampling from the current policy, labelling the samples
 * with the learned reward model (best against worst per prompt), and a DPO pass on those pairs against the policy
 * as it was at the round's start. Evaluated after every round.
 */
final class IterativeDpo {
    private IterativeDpo() {}

    static SentimentExperiment.MethodResult run(Arms arms, ExperimentConfig cfg, int rounds, double beta,
                                                ModelReward learned, List<long[]> prompts, Tokenizer tok, Path sftDir,
                                                Path out, java.util.function.Consumer<String> log) {
        String name = Family.DPO_ITER.label() + " \u03b2=" + beta;
        log.accept("   " + name + ", " + rounds + " rounds");
        Cost c = Cost.start();
        CausalLM policy = ModelFiles.load(sftDir, null, null);
        long pad = tok.padId();
        Set<Long> eos = Set.of(tok.eosId());
        int k = cfg.data().samplesPerPrompt();
        int perRound = Math.max(8, prompts.size() / (2 * rounds));   // half the pair prompts over all rounds
        List<Map<String, Object>> curve = new ArrayList<>();
        List<SentimentExperiment.PathPoint> path = new ArrayList<>();
        Cost.Spent evalCost = Cost.Spent.NONE;
        RewardSource.IdsScorer rm = learned.ids(tok).orElseThrow(
                () -> new IllegalStateException("the reward model must share the policy's tokenizer"));
        for (int round = 0; round < rounds; round++) {
            List<long[]> ps = prompts.subList(round * perRound % prompts.size(),
                    Math.min(prompts.size(), round * perRound % prompts.size() + perRound));
            List<long[]> rep = Repeat.each(ps, k);
            PolicyEval.Samples s = PolicyEval.sample(policy, rep, Repeat.each(java.util.Collections.nCopies(ps.size(), ""), k),
                    cfg.data().maxNewTokens(), cfg.seed() * 31 + round, eos, pad, ids -> tok.decode(ids, true),
                    new Arms.ScoreOnly(), 64);
            double[] scores = rm.score(rep, s.tokens());
            List<PreferencePair> pairs = new ArrayList<>();
            for (int[] p : PairLabels.pick(scores, s.tokens(), k, 0).pairs()) {
                pairs.add(new PreferencePair(p[0] / k, rep.get(p[0]), s.tokens().get(p[0]), s.tokens().get(p[1]), 0));
            }
            if (pairs.isEmpty()) {
                continue;
            }
            ReferenceLogps ref = ReferenceLogps.compute(policy, pairs, 32, pad);
            DpoConfig dpo = new DpoConfig(DpoLossType.SIGMOID, beta, 0, false);
            Arms.loop(cfg, new CausalLMState(policy, sftDir), new DpoTask(policy, pad, dpo, ref), 1e-4,
                    cfg.training().dpoEpochs(), 16, out.resolve("dpo-iter-" + beta).resolve("round-" + (round + 1)), curve)
                    .run(pairs, List.of(), false);
            if (round + 1 < rounds) {
                Cost e = Cost.start();
                PolicyEval.Result r = arms.evaluate(policy);
                path.add(new SentimentExperiment.PathPoint((round + 1.0) / rounds, r.kl(), r.goldReward()));
                evalCost = evalCost.plus(e.stop());
            }
        }
        Cost.Spent spent = c.stop().minus(evalCost);
        return arms.finish(name, Family.DPO_ITER, "\u03b2=" + beta + ", " + rounds + " rounds", policy,
                spent, curve, path, Optional.empty());
    }
}
