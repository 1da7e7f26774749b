package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
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
 * <p>PPO's log π_old are the sampler's own (log-softmax of each step's logits / T at the drawn token), as TRL's
 * {@code PPOTrainer} reads them from the generation's scores; the other methods score the policy with a pass over
 * the rollout, as TRL's GRPO and RLOO do. The passes over the sampled sequences (policy when needed, reference,
 * value model, and a reward model that reads the policy's token ids) run on the {@link Lanes}, the rows split
 * between them: each lane, a core, runs every pass on its share of the rows, so the lanes carry the same work. With
 * LoRA the reference is the policy with its adapters off, a state of the one model: the policy's pass runs first,
 * then the others with the adapters off.
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
        double lpT = cfg.algorithm().logProbTemperature(temperature);
        SamplingConfig sc = new SamplingConfig(cfg.sampling().maxNewTokens(), temperature, 0, 1.0,
                cfg.seed() * 1_000_003L + iteration, eos, true);
        // PPO keeps the sampler's log-probs, as TRL's PPOTrainer; the other methods score the policy again below
        boolean fromSampling = cfg.algorithm().logProbsFromSampling() && !sc.isGreedy() && lpT == temperature;
        if (!fromSampling) {
            sc = sc.withoutLogProbs();
        }
        long t0 = System.nanoTime();
        long[] rowSeeds = new long[queries.size()];
        for (int i = 0; i < rowSeeds.length; i++) {
            rowSeeds[i] = sc.seed() * 1_000_033L + firstRow + i;
        }
        Generation g = BatchGenerator.generate(policy, queries, sc, StopCriterion.NEVER, padId, rowSeeds);
        double generateSeconds = (System.nanoTime() - t0) / 1e9;
        Rollout roll = Rollout.of(queries, g, padId, policy.device());
        Tensor mask = roll.respMask.to(ScalarType.Float);
        double[] rawScores = null;
        if (byIds.isEmpty()) { // a reward on text: on this thread, before the passes
            rawScores = textScores(roll, texts);
        }
        Tensor logpOld = fromSampling ? roll.sampledLogProbs(g).mul(mask) : null;
        Tensor logpRef;
        Tensor values;
        try (NoGradGuard ng = new NoGradGuard()) {
            Pass policyPass = rows -> rows.logProbs(policy, lpT)[0].mul(rows.respMask.to(ScalarType.Float));
            Pass referencePass = rows -> rows.logProbs(reference, lpT)[0].mul(rows.respMask.to(ScalarType.Float));
            Pass valuePass = rows -> critic.values(rows).mul(rows.respMask.to(ScalarType.Float));
            // with LoRA the reference is the policy's own base, the same weights with the adapters off: a state of
            // the one model, so the policy's pass (adapters on) runs before the others (adapters off)
            boolean lora = reference == policy;
            List<Pass> passes = new ArrayList<>();
            if (logpOld == null && lora) {
                logpOld = inLanes(roll, queries, List.of(policyPass), null).get(0);
            } else if (logpOld == null) {
                passes.add(policyPass);
            }
            passes.add(referencePass);
            if (critic != null) {
                passes.add(valuePass);
            }
            double[][] idsScores = byIds.isPresent() ? new double[1][] : null;
            List<Tensor> out;
            try (var off = lora ? policy.adaptersOff() : null) {
                out = inLanes(roll, queries, passes, idsScores);
            }
            int next = 0;
            if (logpOld == null) {
                logpOld = out.get(next++);
            }
            logpRef = out.get(next++);
            values = critic == null ? null : out.get(next);
            if (idsScores != null) {
                rawScores = idsScores[0];
            }
        }
        Tensor score = scores(rawScores, roll);
        Tensor kl = cfg.kl().estimator().perToken(logpOld, logpRef).mul(mask);          // (B, R)
        RolloutStats stats = stats(roll, mask, score, logpOld, kl, klCoef, generateSeconds);
        if (!Double.isFinite(stats.kl())) {
            throw new KeelException("a non-finite KL at iteration " + (iteration + 1) + " (objective/kl " + stats.kl()
                    + "); lower --lr or raise --kl-coef");
        }
        return new Result(new Scored(roll, mask, score, logpOld, logpRef, kl, values), stats);
    }

    /** A pass of one model over some rows of the rollout: a (rows, R) tensor. */
    private interface Pass {
        Tensor over(Rollout rows);
    }

    /**
     * Runs {@code passes} over the rollout with its rows split between the lanes, each lane running every pass on its
     * share in turn (so the lanes carry the same work whatever the passes cost), and the reward model on ids when
     * {@code idsScores} is given (its scores go to {@code idsScores[0]}). Returns each pass's (B, R) result, the
     * lanes' rows joined in order. Off-CPU, with one lane or one row, the passes run in turn over every row.
     */
    private List<Tensor> inLanes(Rollout roll, List<long[]> queries, List<Pass> passes, double[][] idsScores) {
        int b = roll.responses.length;
        int parts = policy.device().is_cpu() ? Math.min(b, Lanes.count()) : 1;
        if (idsScores != null) {
            idsScores[0] = new double[b]; // each lane fills its own rows
        }
        List<Supplier<List<Tensor>>> lanes = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            int from = b * i / parts;
            int to = b * (i + 1) / parts;
            lanes.add(() -> {
                Rollout rows = parts == 1 ? roll : roll.rows(from, to);
                List<Tensor> made = new ArrayList<>();
                for (Pass p : passes) {
                    made.add(p.over(rows));
                }
                if (idsScores != null) {
                    double[] s = byIds.get().score(queries.subList(from, to), List.of(rows.responses));
                    System.arraycopy(s, 0, idsScores[0], from, s.length);
                }
                return made;
            });
        }
        List<List<Tensor>> made = Lanes.tensors(lanes); // one piece runs on this thread
        List<Tensor> joined = new ArrayList<>();
        for (int j = 0; j < passes.size(); j++) {
            Tensor[] rows = new Tensor[parts];
            for (int i = 0; i < parts; i++) {
                rows[i] = made.get(i).get(j);
            }
            joined.add(parts == 1 ? rows[0] : torch.cat(new TensorVector(rows), 0));
        }
        return joined;
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
