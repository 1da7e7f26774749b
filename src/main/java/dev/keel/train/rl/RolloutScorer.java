package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.data.Repeat;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.CausalLM;
import dev.keel.reward.RewardSource;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;

/**
 * The rollout half of an RL iteration: one batched, cached generation of k completions per prompt, the
 * reward's scores (with the missing-EOS penalty and clipping), the log-probs of the sampled tokens under the
 * policy and the reference (logits / T, as TRL scores), and the per-token KL estimate.
 */
final class RolloutScorer {
    private final RlConfig cfg;
    private final CausalLM policy;
    private final CausalLM reference;
    private final RewardSource reward;
    private final Prompts prompts;
    private final long padId;
    private final Set<Long> eos;
    private final Optional<RewardSource.IdsScorer> byIds;

    RolloutScorer(RlConfig cfg, CausalLM policy, CausalLM reference, RewardSource reward, Prompts prompts,
                  long padId, Set<Long> eos) {
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.reward = reward;
        this.prompts = prompts;
        this.padId = padId;
        this.eos = eos;
        this.byIds = reward.ids(prompts.tok());
    }

    /** A scored rollout and what is logged of it. */
    record Result(Scored scored, RolloutStats stats) {}

    /**
     * Samples and scores the completions of prompts {@code idx}; fails on a non-finite score or KL. Each row
     * samples from a generator of its own, seeded by (seed, iteration, {@code firstRow} + its row), so one rank's
     * share of a rollout ({@code firstRow}: where its rows start in the whole rollout) samples what one process
     * sampling the whole rollout would.
     */
    Result rollout(List<Integer> idx, double klCoef, int iteration, int firstRow) {
        int k = cfg.algorithm().samplesPerPrompt();
        List<long[]> queries = Repeat.each(idx.stream().map(i -> prompts.ids().get(i)).toList(), k);
        List<String> texts = Repeat.each(idx.stream().map(i -> prompts.texts().get(i)).toList(), k);
        double temperature = cfg.sampling().temperature();
        SamplingConfig sc = new SamplingConfig(cfg.sampling().maxNewTokens(), temperature, 0, 1.0,
                cfg.seed() * 1_000_003L + iteration, eos, true).withoutLogProbs(); // scored again below, as TRL does
        long t0 = System.nanoTime();
        long[] rowSeeds = new long[queries.size()];
        for (int i = 0; i < rowSeeds.length; i++) {
            rowSeeds[i] = sc.seed() * 1_000_033L + firstRow + i;
        }
        Generation g = BatchGenerator.generate(policy, queries, sc, StopCriterion.NEVER, padId, rowSeeds);
        double generateSeconds = (System.nanoTime() - t0) / 1e9;
        Rollout roll = Rollout.of(queries, g, padId, policy.device());
        Tensor score = scores(roll, queries, texts);
        Tensor mask = roll.respMask.to(ScalarType.Float);
        Tensor logpOld;
        Tensor logpRef;
        try (NoGradGuard ng = new NoGradGuard()) {
            double lpT = cfg.algorithm().logProbTemperature(temperature);
            if (reference == policy || !policy.device().is_cpu()) {
                logpOld = roll.logProbs(policy, lpT)[0].mul(mask);
                // with LoRA the reference is the policy's own base: the same weights with the adapters off
                try (var off = reference == policy ? policy.adaptersOff() : null) {
                    logpRef = roll.logProbs(reference, lpT)[0].mul(mask);
                }
            } else {
                // two models: the two passes side by side, a core each
                List<Tensor> lp = Lanes.tensors(List.of(() -> roll.logProbs(policy, lpT)[0].mul(mask),
                        () -> roll.logProbs(reference, lpT)[0].mul(mask)));
                logpOld = lp.get(0);
                logpRef = lp.get(1);
            }
        }
        Tensor kl = cfg.kl().estimator().perToken(logpOld, logpRef).mul(mask);          // (B, R)
        RolloutStats stats = stats(roll, mask, score, logpOld, kl, klCoef, generateSeconds);
        if (!Double.isFinite(stats.kl())) {
            throw new KeelException("a non-finite KL at iteration " + (iteration + 1) + " (objective/kl " + stats.kl()
                    + "); lower --lr or raise --kl-coef");
        }
        return new Result(new Scored(roll, mask, score, logpOld, logpRef, kl), stats);
    }

    /**
     * The reward's scores (B), minus the missing-EOS penalty, clipped. A reward model with the policy's tokenizer
     * reads the sampled ids (prompt, then the response with its EOS when it ended); any other reward reads the
     * decoded text.
     */
    private Tensor scores(Rollout roll, List<long[]> queries, List<String> texts) {
        double[] scores;
        if (byIds.isPresent()) {
            scores = byIds.get().score(queries, List.of(roll.responses));
        } else {
            List<String> completions = new ArrayList<>();
            for (long[] resp : roll.responses) {
                completions.add(prompts.decode(resp));
            }
            scores = reward.score(texts, completions, roll.endedWithEos);
        }
        for (int i = 0; i < scores.length; i++) {
            if (!Double.isFinite(scores[i])) {
                throw new KeelException("the reward " + reward.name() + " returned " + scores[i] + " for a completion");
            }
            if (!roll.endedWithEos[i] && cfg.scores().missingEosPenalty().isPresent()) {
                scores[i] -= cfg.scores().missingEosPenalty().getAsDouble();
            }
            if (cfg.scores().clip().isPresent()) {
                double c = cfg.scores().clip().getAsDouble();
                scores[i] = Math.max(-c, Math.min(c, scores[i]));
            }
        }
        float[] sf = new float[scores.length];
        for (int i = 0; i < sf.length; i++) {
            sf[i] = (float) scores[i];
        }
        return Tensors.floats(sf, sf.length).to(policy.device(), ScalarType.Float);
    }

    private static RolloutStats stats(Rollout roll, Tensor mask, Tensor score, Tensor logpOld, Tensor kl,
                                      double klCoef, double generateSeconds) {
        int eosCount = 0;
        for (boolean e : roll.endedWithEos) {
            eosCount += e ? 1 : 0;
        }
        Tensor klSeq = Tensors.sum(kl, 1, false);                                        // (B)
        Tensor nonScore = kl.mul(s(-klCoef));
        return new RolloutStats(Tensors.item(klSeq.mean()), Tensors.item(Tensors.sum(logpOld.neg(), 1, false).mean()),
                Tensors.item(Tensors.sum(nonScore, 1, false).mean()), Tensors.item(score.mean()),
                Tensors.item(score.sub(klSeq.mul(s(klCoef))).mean()), eosCount,
                Tensors.item(mask.sum()) / roll.responses.length, generateSeconds);
    }
}
