package dev.keel.train;

import static dev.keel.tensor.Tensors.s;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.loss.AdaptiveKlController;
import dev.keel.loss.Gae;
import dev.keel.loss.Grpo;
import dev.keel.loss.Masked;
import dev.keel.loss.PpoLoss;
import dev.keel.loss.Rloo;
import dev.keel.model.CausalLM;
import dev.keel.reward.RewardSource;
import dev.keel.tensor.Tensors;

/**
 * Reward-based fine-tuning: each iteration samples completions for a batch of prompts with the policy (one
 * batched, cached generation), scores them with a reward source, and updates the policy, keeping it near the
 * frozen reference with a KL penalty (algorithms.md §4, §5).
 * <ul>
 * <li>PPO (Ouyang et al. 2022; Huang et al., "The N Implementation Details of RLHF with PPO"; TRL's
 *     PPOTrainer): per-token reward −β·kl_t with the score on the last real token, a value model, GAE,
 *     whitened advantages, clipped policy and value losses over several epochs of minibatches;
 * <li>RLOO (Ahmadian et al. 2024): k samples per prompt, the score minus β·Σ kl as the sequence reward, the
 *     leave-one-out baseline, a sequence-level clipped ratio; no value model;
 * <li>GRPO (Shao et al. 2024): k samples per prompt, group-normalised scores as advantages, a token-level
 *     clipped ratio with β·k3 to the reference in the loss; no value model.
 * </ul>
 */
public final class RlTrainer {
    private final RlConfig cfg;
    private final OptimConfig optim;
    private final CausalLM policy;
    private final CausalLM reference;
    private final CausalLM value;
    private final RewardSource reward;
    private final PromptSource prompts;
    private final long padId;
    private final java.util.Set<Long> eos;
    private final Path out;
    private Consumer<Map<String, Object>> listener = m -> { };

    /** Prompts as ids and as the text the reward sees; also turns ids back into text. */
    public interface PromptSource {
        List<long[]> ids();

        List<String> texts();

        String decode(long[] ids);
    }

    /** Prompts with the tokenizer that made them, which also turns completions back into text. */
    public record TokenizedPrompts(List<long[]> ids, List<String> texts, dev.keel.tokenizer.Tokenizer tok)
            implements PromptSource {
        @Override
        public String decode(long[] ids) {
            return tok.decode(ids, true);
        }
    }

    public RlTrainer(RlConfig cfg, OptimConfig optim, CausalLM policy, CausalLM reference, CausalLM value,
                     RewardSource reward, PromptSource prompts, long padId, java.util.Set<Long> eos, Path out) {
        if (cfg.algorithm() == RlConfig.Algorithm.PPO && value == null) {
            throw new IllegalArgumentException("PPO needs a value model");
        }
        if (eos.isEmpty()) {
            throw new KeelException("the policy has no EOS token: RL fine-tuning needs one to end completions");
        }
        this.cfg = cfg;
        this.optim = optim;
        this.policy = policy;
        this.reference = reference;
        this.value = value;
        this.reward = reward;
        this.prompts = prompts;
        this.padId = padId;
        this.eos = eos;
        this.out = out;
    }

    public RlTrainer onLog(Consumer<Map<String, Object>> l) {
        this.listener = l;
        return this;
    }

    /** Runs every iteration, writes metrics.jsonl and the final policy; returns the last metrics. */
    public Map<String, Object> run(ModelState policyState) {
        torch.manual_seed(cfg.seed());
        policy.parameters().forEach(t -> t.set_requires_grad(true));
        reference.parameters().forEach(t -> t.set_requires_grad(false));
        Map<String, Tensor> trainable = new LinkedHashMap<>();
        policy.weights().forEach((k, v) -> trainable.put("policy." + k, v));
        if (value != null && cfg.algorithm() == RlConfig.Algorithm.PPO) {
            value.parameters().forEach(t -> t.set_requires_grad(true));
            value.weights().forEach((k, v) -> trainable.put("value." + k, v));
        }
        AdamW opt = Optimizers.adamW(trainable, (n, t) -> t.dim() < 2 || n.contains("embed") || n.contains(".wte.")
                || n.contains(".wpe."), optim);
        Random order = new Random(cfg.seed());
        List<Integer> pool = new ArrayList<>();
        double klCoef = cfg.klCoef();
        long episodes = 0;
        long updates = 0;
        long totalUpdates = (long) cfg.iterations() * cfg.updateEpochs()
                * ((cfg.rolloutSize() + cfg.miniBatchSize() - 1) / cfg.miniBatchSize());
        Map<String, Object> last = Map.of();
        try (MetricsLog log = MetricsLog.open(out.resolve("metrics.jsonl"), -1)) {
            for (int it = 0; it < cfg.iterations(); it++) {
                long t0 = System.nanoTime();
                List<Integer> idx = new ArrayList<>();
                while (idx.size() < cfg.batchPrompts()) {
                    if (pool.isEmpty()) {
                        for (int i = 0; i < prompts.ids().size(); i++) {
                            pool.add(i);
                        }
                        Collections.shuffle(pool, order);
                    }
                    idx.add(pool.remove(pool.size() - 1));
                }
                Map<String, Object> m = new LinkedHashMap<>();
                try (PointerScope scope = new PointerScope()) {
                    Step step = rollout(idx, klCoef, m, it);
                    long t1 = System.nanoTime();
                    updates = update(step, opt, updates, totalUpdates, m, klCoef);
                    long t2 = System.nanoTime();
                    episodes += cfg.rolloutSize();
                    // rollout = sampling (time/generate_s) + scoring (time/score_s: reward, log-probs, values)
                    m.put("time/rollout_s", (t1 - t0) / 1e9);
                    m.put("time/score_s", (t1 - t0) / 1e9 - (Double) m.get("time/generate_s"));
                    m.put("time/update_s", (t2 - t1) / 1e9);
                }
                double kl = (Double) m.get("objective/kl");
                if (!Double.isFinite(kl) || !Double.isFinite((Double) m.get("loss/policy_avg"))) {
                    throw new KeelException("a non-finite KL or loss at iteration " + (it + 1) + " (objective/kl " + kl
                            + "); lower --lr or raise --kl-coef");
                }
                m.put("kl_coef", klCoef);
                if (cfg.klTarget() > 0) {
                    klCoef = AdaptiveKlController.update(klCoef, kl, cfg.klTarget(), cfg.klHorizon(), cfg.rolloutSize());
                }
                if (cfg.refEmaDecay() > 0) {
                    emaReference();
                }
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("step", (long) (it + 1));
                line.put("episode", episodes);
                line.putAll(m);
                log.write(line);
                listener.accept(line);
                last = line;
            }
        }
        policyState.save(out);
        return last;
    }

    /** What a rollout leaves for the update. */
    private record Step(Rollout roll, Tensor logpOld, Tensor logpRef, Tensor valuesOld, Tensor advantages,
                        Tensor returns, Tensor seqAdvantages) {}

    private Step rollout(List<Integer> idx, double klCoef, Map<String, Object> m, int iteration) {
        int k = cfg.samplesPerPrompt();
        List<long[]> queries = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (int i : idx) {
            for (int j = 0; j < k; j++) {
                queries.add(prompts.ids().get(i));
                texts.add(prompts.texts().get(i));
            }
        }
        SamplingConfig sc = new SamplingConfig(cfg.maxNewTokens(), cfg.temperature(), 0, 1.0,
                cfg.seed() * 1_000_003L + iteration, eos, true).withoutLogProbs(); // scored again below, as TRL does
        long t0 = System.nanoTime();
        Generation g = BatchGenerator.generate(policy, queries, sc, StopCriterion.NEVER, padId);
        m.put("time/generate_s", (System.nanoTime() - t0) / 1e9);
        Rollout roll = Rollout.of(queries, g, padId, policy.device());
        List<String> completions = new ArrayList<>();
        for (long[] resp : roll.responses) {
            completions.add(prompts.decode(resp));
        }
        double[] scores = reward.score(texts, completions, roll.endedWithEos);
        int eosCount = 0;
        for (int i = 0; i < scores.length; i++) {
            if (!Double.isFinite(scores[i])) {
                throw new KeelException("the reward " + reward.name() + " returned " + scores[i] + " for a completion");
            }
            if (roll.endedWithEos[i]) {
                eosCount++;
            } else if (!Double.isNaN(cfg.missingEosPenalty())) {
                scores[i] -= cfg.missingEosPenalty();
            }
            if (cfg.rewardClip() > 0) {
                scores[i] = Math.max(-cfg.rewardClip(), Math.min(cfg.rewardClip(), scores[i]));
            }
        }
        float[] sf = new float[scores.length];
        for (int i = 0; i < sf.length; i++) {
            sf[i] = (float) scores[i];
        }
        Tensor score = Tensors.floats(sf, sf.length).to(policy.device(), ScalarType.Float);
        Tensor mask = roll.respMask.to(ScalarType.Float);
        Tensor logpOld;
        Tensor logpRef;
        Tensor valuesOld = null;
        try (NoGradGuard ng = new NoGradGuard()) {
            Tensor[] lo = roll.logProbs(policy, cfg.temperature());
            logpOld = lo[0].mul(mask);
            logpRef = roll.logProbs(reference, cfg.temperature())[0].mul(mask);
            if (cfg.algorithm() == RlConfig.Algorithm.PPO) {
                valuesOld = roll.values(value).mul(mask);
            }
        }
        Tensor kl = cfg.klEstimator().perToken(logpOld, logpRef).mul(mask);          // (B, R)
        Tensor klSeq = kl.sum(new long[] {1}, false, new org.bytedeco.pytorch.ScalarTypeOptional());
        Tensor nonScore = kl.mul(s(-klCoef));
        m.put("objective/kl", Tensors.item(klSeq.mean()));
        m.put("objective/entropy", Tensors.item(logpOld.neg().sum(new long[] {1}, false,
                new org.bytedeco.pytorch.ScalarTypeOptional()).mean()));
        m.put("objective/non_score_reward", Tensors.item(nonScore.sum(new long[] {1}, false,
                new org.bytedeco.pytorch.ScalarTypeOptional()).mean()));
        m.put("objective/scores", Tensors.item(score.mean()));
        m.put("objective/rlhf_reward", Tensors.item(score.sub(klSeq.mul(s(klCoef))).mean()));
        m.put("val/num_eos_tokens", (double) eosCount);
        m.put("val/mean_response_length", Tensors.item(mask.sum()) / scores.length);
        switch (cfg.algorithm()) {
            case PPO: {
                Tensor rewards = nonScore.add(roll.atLast(score));
                if (cfg.whitenRewards()) {
                    rewards = Masked.whiten(rewards, mask, false);
                }
                Gae.Result gae = Gae.compute(rewards, valuesOld, mask, cfg.gamma(), cfg.lambda());
                Tensor adv = Masked.whiten(gae.advantages(), mask, true).mul(mask);
                return new Step(roll, logpOld, logpRef, valuesOld, adv, gae.returns(), null);
            }
            case RLOO: {
                Tensor seqReward = Rloo.sequenceReward(score, kl, mask, klCoef);
                return new Step(roll, logpOld, logpRef, null, null, null, Rloo.advantages(seqReward, k));
            }
            case GRPO:
                return new Step(roll, logpOld, logpRef, null, null, null, Grpo.advantages(score, k));
            default:
                throw new IllegalStateException();
        }
    }

    private long update(Step st, AdamW opt, long updates, long totalUpdates, Map<String, Object> m, double klCoef) {
        int n = cfg.rolloutSize();
        Random shuffle = new Random(cfg.seed() * 31 + updates);
        double sumPg = 0, sumVf = 0, sumClip = 0, sumVClip = 0, sumKl = 0, sumEnt = 0, sumRatio = 0;
        int count = 0;
        for (int epoch = 0; epoch < cfg.updateEpochs(); epoch++) {
            List<Integer> perm = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                perm.add(i);
            }
            Collections.shuffle(perm, shuffle);
            for (int s0 = 0; s0 < n; s0 += cfg.miniBatchSize()) {
                long[] ix = perm.subList(s0, Math.min(n, s0 + cfg.miniBatchSize())).stream().mapToLong(Integer::longValue).toArray();
                try (PointerScope scope = new PointerScope()) {
                    Tensor index = Tensors.longs(ix, policy.device());
                    Rollout mb = st.roll().select(ix);
                    Tensor mask = mb.respMask.to(ScalarType.Float);
                    Tensor[] lp = mb.logProbs(policy, cfg.temperature());
                    Tensor logpNew = lp[0];
                    Tensor logpOld = st.logpOld().index_select(0, index);
                    Tensor loss;
                    double pgLoss;
                    double clipFrac;
                    double approxKl;
                    switch (cfg.algorithm()) {
                        case PPO: {
                            PpoLoss.Policy pg = PpoLoss.policy(logpNew, logpOld, st.advantages().index_select(0, index),
                                    mask, cfg.clipRange());
                            Tensor vpred = mb.values(value);
                            PpoLoss.Value vf = PpoLoss.value(vpred, st.valuesOld().index_select(0, index),
                                    st.returns().index_select(0, index), mask, cfg.clipRangeValue());
                            loss = pg.loss().add(vf.loss().mul(s(cfg.vfCoef())));
                            pgLoss = Tensors.item(pg.loss());
                            clipFrac = Tensors.item(pg.clipFrac());
                            approxKl = Tensors.item(pg.approxKl());
                            sumVf += Tensors.item(vf.loss());
                            sumVClip += Tensors.item(vf.clipFrac());
                            break;
                        }
                        case RLOO: {
                            // sequence-level ratio, as TRL's RLOOTrainer: sums of token log-probs
                            Tensor newSeq = logpNew.mul(mask).sum(new long[] {1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
                            Tensor oldSeq = logpOld.sum(new long[] {1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
                            Tensor ones = torch.ones_like(newSeq);
                            PpoLoss.Policy pg = PpoLoss.policy(newSeq, oldSeq,
                                    st.seqAdvantages().index_select(0, index).view(-1, 1), ones, cfg.clipRange());
                            loss = pg.loss();
                            pgLoss = Tensors.item(pg.loss());
                            clipFrac = Tensors.item(pg.clipFrac());
                            approxKl = Tensors.item(pg.approxKl());
                            break;
                        }
                        case GRPO: {
                            Grpo.Result gr = Grpo.loss(logpNew, logpOld, st.logpRef().index_select(0, index),
                                    st.seqAdvantages().index_select(0, index), mask, cfg.clipRange(), klCoef);
                            loss = gr.loss();
                            pgLoss = Tensors.item(gr.loss());
                            clipFrac = Tensors.item(gr.clipFrac());
                            // as PPO's: half the mean squared log-ratio to the policy that sampled
                            Tensor d = logpNew.detach().sub(logpOld).mul(mask);
                            approxKl = 0.5 * Tensors.item(Masked.mean(d.mul(d), mask));
                            break;
                        }
                        default:
                            throw new IllegalStateException();
                    }
                    loss.backward();
                    List<Tensor> params = new ArrayList<>(policy.parameters());
                    if (cfg.algorithm() == RlConfig.Algorithm.PPO) {
                        params.addAll(value.parameters());
                    }
                    Optimizers.step(opt, params, optim.lrAt(updates, totalUpdates), optim.maxGradNorm());
                    updates++;
                    try (NoGradGuard ng = new NoGradGuard()) {
                        Tensor logits = lp[1].detach();
                        Tensor ent = torch.logsumexp(logits, new long[] {-1}, false)
                                .sub(torch.softmax(logits, -1).mul(logits).sum(new long[] {-1}, false,
                                        new org.bytedeco.pytorch.ScalarTypeOptional()));
                        sumEnt += Tensors.item(Masked.mean(ent, mask));
                        sumRatio += Tensors.item(Masked.mean(logpNew.detach().sub(logpOld).exp(), mask));
                    }
                    sumPg += pgLoss;
                    sumClip += clipFrac;
                    sumKl += approxKl;
                    count++;
                }
            }
        }
        m.put("policy/approxkl_avg", sumKl / count);
        m.put("policy/clipfrac_avg", sumClip / count);
        m.put("policy/entropy_avg", sumEnt / count);
        m.put("loss/policy_avg", sumPg / count);
        if (cfg.algorithm() == RlConfig.Algorithm.PPO) {
            m.put("loss/value_avg", sumVf / count);
            m.put("val/clipfrac_avg", sumVClip / count);
        }
        m.put("val/ratio", sumRatio / count);
        m.put("lr", optim.lrAt(Math.max(0, updates - 1), totalUpdates));
        return updates;
    }

    /** ref ← d·ref + (1 − d)·policy (an exponential moving average of the policy as the reference). */
    private void emaReference() {
        double d = cfg.refEmaDecay();
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : reference.weights().entrySet()) {
                Tensor p = policy.weights().get(e.getKey());
                e.getValue().mul_(s(d)).add_(p.detach().mul(s(1 - d)));
            }
        }
    }
}
