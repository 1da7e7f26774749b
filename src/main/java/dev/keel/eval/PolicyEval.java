package dev.keel.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import dev.keel.data.ScoringRecord;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.CausalLM;
import dev.keel.reward.RewardSource;
import dev.keel.train.SequenceScorer;

/**
 * Evaluates a policy the way the DPO paper's controlled experiment does (Rafailov et al. 2023, Sec. 6.1;
 * docs/ALGORITHMS.md §6): fresh samples at temperature 1 on held-out prompts, their mean gold reward, the
 * sequence-level KL(π ‖ π_sft) estimated from those samples as the mean of Σ_t (log π − log π_sft), and the
 * win rate against the SFT model's samples for the same prompts, the gold reward judging (ties count half).
 */
public final class PolicyEval {
    private PolicyEval() {}

    /** Samples for the eval prompts: token ids, decoded text, gold scores. */
    public record Samples(List<long[]> tokens, List<String> texts, double[] gold, boolean[] ended) {}

    /** The numbers of one policy. */
    public record Result(double goldReward, double goldStd, double kl, double winRate, Samples samples) {}

    public interface Decoder {
        String decode(long[] ids);
    }

    public static Samples sample(CausalLM policy, List<long[]> prompts, List<String> promptTexts, int maxNewTokens,
                                 long seed, Set<Long> eos, long pad, Decoder decoder, RewardSource gold, int batch) {
        SamplingConfig cfg = new SamplingConfig(maxNewTokens, 1.0, 0, 1.0, seed, eos, true).withoutLogProbs();
        List<long[]> tokens = new ArrayList<>();
        List<Boolean> endedList = new ArrayList<>();
        for (int s = 0; s < prompts.size(); s += batch) {
            // a seed per batch: the same seed would repeat the draws of the rows of the first batch
            Generation g = BatchGenerator.generate(policy, prompts.subList(s, Math.min(prompts.size(), s + batch)),
                    cfg.withSeed(seed * 1_000_003L + s), StopCriterion.NEVER, pad);
            tokens.addAll(g.tokens());
            g.finish().forEach(f -> endedList.add(f == Generation.Finish.EOS));
        }
        List<String> texts = new ArrayList<>();
        for (long[] t : tokens) {
            texts.add(decoder.decode(t));
        }
        boolean[] ended = new boolean[endedList.size()];
        for (int i = 0; i < ended.length; i++) {
            ended[i] = endedList.get(i);
        }
        return new Samples(tokens, texts, gold.score(promptTexts, texts, ended), ended);
    }

    /** Mean over samples of Σ_t log π(y_t) − log π_sft(y_t), both at temperature 1. */
    public static double kl(CausalLM policy, CausalLM sft, List<long[]> prompts, Samples s, long pad, int batch) {
        List<ScoringRecord> recs = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            if (s.tokens().get(i).length > 0) {
                recs.add(new ScoringRecord(i, prompts.get(i), s.tokens().get(i)));
            }
        }
        if (recs.isEmpty()) {
            return 0;
        }
        List<SequenceScorer.Score> p = SequenceScorer.score(policy, recs, batch, pad);
        List<SequenceScorer.Score> q = policy == sft ? p : SequenceScorer.score(sft, recs, batch, pad);
        double sum = 0;
        for (int i = 0; i < recs.size(); i++) {
            sum += p.get(i).logProb() - q.get(i).logProb();
        }
        return sum / prompts.size();
    }

    /** Fraction of prompts where {@code a} beats {@code b} by gold score, ties counting half. */
    public static double winRate(double[] a, double[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w += a[i] > b[i] ? 1 : a[i] == b[i] ? 0.5 : 0;
        }
        return w / a.length;
    }

    public static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return s / x.length;
    }

    public static double std(double[] x) {
        double m = mean(x);
        double s = 0;
        for (double v : x) {
            s += (v - m) * (v - m);
        }
        return Math.sqrt(s / Math.max(1, x.length - 1));
    }
}
