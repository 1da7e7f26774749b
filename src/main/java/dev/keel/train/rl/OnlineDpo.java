package dev.keel.train.rl;

import static dev.keel.tensor.Tensors.s;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.loss.DpoLoss;
import dev.keel.loss.DpoLossType;
import dev.keel.tensor.Tensors;

/**
 * Online DPO (Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback", Algorithm 1; TRL's
 * OnlineDPOTrainer; docs/ALGORITHMS.md §5.3): two completions per prompt from the current policy, the one the
 * reward scores higher is chosen (the first on a tie, as TRL's {@code first_half >= second_half}), and one DPO
 * step on the pairs against the frozen reference. Log-probs are the raw model's (temperature 1), as TRL's
 * {@code _forward}, whatever the sampling temperature.
 *
 * @param beta     β of the DPO loss (TRL {@code beta}, 0.1)
 * @param lossType {@link DpoLossType#SIGMOID} or {@link DpoLossType#IPO} (TRL's two), on summed log-probs
 */
public record OnlineDpo(double beta, DpoLossType lossType) implements RlAlgorithm<OnlineDpo.Targets> {
    public OnlineDpo {
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("--beta must be a finite number > 0, got " + beta);
        }
        if (lossType != DpoLossType.SIGMOID && lossType != DpoLossType.IPO) {
            throw new IllegalArgumentException("online DPO's --loss-type is sigmoid or ipo, got " + lossType);
        }
    }

    /**
     * Which row of each pair is chosen.
     *
     * @param sign (B) +1 for the chosen row of its pair, −1 for the rejected one
     * @param pair (B) long, the pair (prompt) each row belongs to
     */
    public record Targets(Tensor sign, Tensor pair) {}

    @Override
    public String name() {
        return "online-dpo";
    }

    @Override
    public int samplesPerPrompt() {
        return 2;
    }

    @Override
    public double logProbTemperature(double samplingTemperature) {
        return 1.0;
    }

    @Override
    public boolean needsWholeRollout() {
        return true;
    }

    @Override
    public Targets targets(Scored r, Critic critic, double klCoef) {
        return preferences(r.score());
    }

    /**
     * Chosen and rejected rows from the scores of pairs laid out prompt-major (rows 2i, 2i + 1 are prompt i's):
     * the first is chosen when its score is at least the second's.
     */
    static Targets preferences(Tensor score) {
        float[] s = Tensors.toFloats(score.to(org.bytedeco.pytorch.global.torch.ScalarType.Float));
        if (s.length % 2 != 0) {
            throw new IllegalArgumentException("online DPO needs two completions per prompt, got " + s.length + " rows");
        }
        float[] sign = new float[s.length];
        long[] pair = new long[s.length];
        for (int i = 0; i < s.length; i += 2) {
            boolean firstChosen = s[i] >= s[i + 1];
            sign[i] = firstChosen ? 1 : -1;
            sign[i + 1] = -sign[i];
            pair[i] = i / 2;
            pair[i + 1] = i / 2;
        }
        Tensor signs = Tensors.floats(sign, sign.length);
        return new Targets(score.device().is_cpu() ? signs : signs.to(score.device(), org.bytedeco.pytorch.global.torch.ScalarType.Float),
                Tensors.longs(pair, score.device()));
    }

    @Override
    public Targets select(Targets t, Tensor index) {
        return new Targets(t.sign().index_select(0, index), t.pair().index_select(0, index));
    }

    @Override
    public StepLoss loss(Minibatch mb, Targets t, Critic critic, double klCoef, RlConfig cfg) {
        Tensor m = mb.mask();
        Tensor policy = Tensors.sum(mb.logpNew().mul(m), 1, false);                  // (B)
        Tensor reference = Tensors.sum(mb.logpRef().mul(m), 1, false);               // (B)
        Pairs p = pairs(policy, reference.detach(), t);
        DpoLoss.Result r = DpoLoss.compute(lossType, p.policyChosen, p.policyRejected, p.refChosen, p.refRejected,
                beta, 0.0);
        Tensor loss = r.losses().mean();
        // the DPO family's metrics (one definition, DpoLoss.metricSums), as means over the pairs as TRL logs them
        long pairs = p.policyChosen.size(0);
        Map<String, Double> metrics = new LinkedHashMap<>();
        DpoLoss.metricSums(r, p.policyChosen.detach(), p.policyRejected.detach())
                .forEach((k, v) -> metrics.put(k, v / pairs));
        metrics.put("beta", beta);
        Tensor zero = Tensors.floats(new float[] {0f});
        return new StepLoss(loss, loss, zero, dev.keel.loss.Grpo.approxKl(mb.logpNew(), mb.logpOld(), m),
                Optional.empty(), metrics);
    }

    /** Per-pair log-prob sums of the chosen and the rejected rows. */
    record Pairs(Tensor policyChosen, Tensor policyRejected, Tensor refChosen, Tensor refRejected) {}

    /**
     * Gathers the rows' sums into pairs, in any row order: chosen = Σ over the pair's rows of [sign &gt; 0]·x,
     * rejected likewise with [sign &lt; 0]. Every pair must have both rows here.
     */
    static Pairs pairs(Tensor policy, Tensor reference, Targets t) {
        long n = policy.size(0) / 2;
        Tensor chosen = t.sign().gt(s(0.0)).to(policy.scalar_type());                 // (B) 1 for chosen
        Tensor rejected = t.sign().lt(s(0.0)).to(policy.scalar_type());               // (B) 1 for rejected
        return new Pairs(gather(policy, chosen, t.pair(), n), gather(policy, rejected, t.pair(), n),
                gather(reference, chosen, t.pair(), n), gather(reference, rejected, t.pair(), n));
    }

    private static Tensor gather(Tensor x, Tensor which, Tensor pair, long n) {
        return torch.zeros(new long[] {n}, x.options()).index_add(0, pair, x.mul(which));   // (N)
    }
}
