package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

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
 * policy and the reference (logits / T, as TRL scores), the value model's predictions when the method has one,
 * and the per-token KL estimate.
 *
 * <p>The passes over the sampled sequences (policy, reference, value model, and a reward model that reads the
 * policy's token ids) run on two {@link Lanes}, a core each, two passes a lane: policy then reward model beside
 * reference then value model, so the lanes carry about the same work (a reward or value pass is the blocks
 * without the vocabulary projection). With LoRA the reference is the policy with its adapters off, a state of the
 * one model, so its two passes share a lane and the value and reward passes take the other.
 */
final class RolloutScorer {
    private final RlConfig cfg;
    private final CausalLM policy;
    private final CausalLM reference;
    private final Critic critic;
    private final RewardSource reward;
    private final Prompts prompts;
    private final long padId;
    private final Set<Long> eos;
    private final Optional<RewardSource.IdsScorer> byIds;

    /** {@code critic}: the value model, or null for a method without one. */
    RolloutScorer(RlConfig cfg, CausalLM policy, CausalLM reference, Critic critic, RewardSource reward, Prompts prompts,
                  long padId, Set<Long> eos) {
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.critic = critic;
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
        Tensor mask = roll.respMask.to(ScalarType.Float);
        double[][] rawScores = new double[1][];
        if (byIds.isEmpty()) { // a reward on text: on this thread, before the passes
            rawScores[0] = textScores(roll, texts);
        }
        Tensor logpOld;
        Tensor logpRef;
        Tensor values;
        try (NoGradGuard ng = new NoGradGuard()) {
            double lpT = cfg.algorithm().logProbTemperature(temperature);
            Supplier<Tensor> policyPass = () -> roll.logProbs(policy, lpT)[0].mul(mask);
            Supplier<Tensor> referencePass = () -> {
                // with LoRA the reference is the policy's own base: the same weights with the adapters off
                try (var off = reference == policy ? policy.adaptersOff() : null) {
                    return roll.logProbs(reference, lpT)[0].mul(mask);
                }
            };
            Supplier<Tensor> valuePass = () -> critic == null ? null : critic.values(roll).mul(mask);
            Runnable rewardPass = () -> {
                if (byIds.isPresent()) {
                    rawScores[0] = byIds.get().score(queries, List.of(roll.responses));
                }
            };
            List<Supplier<List<Tensor>>> lanes = reference == policy
                    ? List.of(() -> made(policyPass.get(), referencePass.get()),
                            () -> { rewardPass.run(); return made(valuePass.get()); })
                    : List.of(() -> { Tensor lp = policyPass.get(); rewardPass.run(); return made(lp); },
                            () -> made(referencePass.get(), valuePass.get()));
            List<List<Tensor>> out;
            if (policy.device().is_cpu()) {
                out = Lanes.tensors(lanes);
            } else {
                out = new ArrayList<>();
                for (Supplier<List<Tensor>> lane : lanes) {
                    out.add(lane.get());
                }
            }
            List<Tensor> all = new ArrayList<>(out.get(0)); // policy, reference, then values in both layouts
            all.addAll(out.get(1));
            logpOld = all.get(0);
            logpRef = all.get(1);
            values = critic == null ? null : all.get(2);
        }
        Tensor score = scores(rawScores[0], roll);
        Tensor kl = cfg.kl().estimator().perToken(logpOld, logpRef).mul(mask);          // (B, R)
        RolloutStats stats = stats(roll, mask, score, logpOld, kl, klCoef, generateSeconds);
        if (!Double.isFinite(stats.kl())) {
            throw new KeelException("a non-finite KL at iteration " + (iteration + 1) + " (objective/kl " + stats.kl()
                    + "); lower --lr or raise --kl-coef");
        }
        return new Result(new Scored(roll, mask, score, logpOld, logpRef, kl, values), stats);
    }

    /** A lane's tensors in order, leaving out a pass that made none (null: no value model). */
    private static List<Tensor> made(Tensor... ts) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : ts) {
            if (t != null) {
                out.add(t);
            }
        }
        return out;
    }

    /** A reward that reads text: the decoded completions, scored with the prompts' texts. */
    private double[] textScores(Rollout roll, List<String> texts) {
        List<String> completions = new ArrayList<>();
        for (long[] resp : roll.responses) {
            completions.add(prompts.decode(resp));
        }
        return reward.score(texts, completions, roll.endedWithEos);
    }

    /**
     * The reward's scores (B), minus the missing-EOS penalty, clipped. A reward model with the policy's tokenizer
     * read the sampled ids (prompt, then the response with its EOS when it ended); any other reward the decoded
     * text.
     */
    private Tensor scores(double[] scores, Rollout roll) {
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
