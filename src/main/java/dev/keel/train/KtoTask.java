package dev.keel.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import dev.keel.data.Collator;
import dev.keel.data.KtoExample;
import dev.keel.loss.KtoLoss;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * KTO (docs/ALGORITHMS.md §3.1) on unpaired examples. Per batch: the policy's log-probs of each example's completion
 * (with a graph); the KL reference point from the batch's own prompts paired with the completion of the example
 * before them ({@link KtoLoss#mismatchedCompletions}), under the policy without a graph; and the frozen reference
 * model's log-probs of both. The pairing depends on which examples share a batch, which changes every epoch, so the
 * reference model stays in memory (as in TRL without {@code precompute_ref_log_probs}).
 */
public final class KtoTask implements Task<KtoExample> {
    private final CausalLM policy;
    private final CausalLM reference;
    private final long padId;
    private final KtoConfig cfg;

    /**
     * @param reference the frozen reference model, a separate instance from {@code policy} (it must not move), or
     *                  {@code policy} itself when it has LoRA adapters: its base, with the adapters off
     */
    public KtoTask(CausalLM policy, CausalLM reference, long padId, KtoConfig cfg) {
        if (policy == reference && policy.adapters() == null) {
            throw new IllegalArgumentException("KTO's reference model must be its own copy, not the policy being trained");
        }
        this.policy = policy;
        this.reference = reference;
        this.padId = padId;
        this.cfg = cfg;
    }

    @Override
    public double weight(List<KtoExample> batch) {
        return batch.size();
    }

    /** No: the KL reference point is estimated from the whole batch's mismatched pairs. */
    @Override
    public boolean sumsOverExamples() {
        return false;
    }

    @Override
    public Output forward(List<KtoExample> batch) {
        int n = batch.size();
        int[] kl = n == 1 ? new int[] {0} : KtoLoss.mismatchedCompletions(n);   // a lone example pairs with itself, as in TRL
        List<long[]> prompts = new ArrayList<>();
        List<long[]> completions = new ArrayList<>();
        float[] desirable = new float[n];
        for (int i = 0; i < n; i++) {
            prompts.add(batch.get(i).promptIds());
            completions.add(batch.get(i).completionIds());
            desirable[i] = batch.get(i).desirable() ? 1f : 0f;
        }
        List<long[]> klCompletions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            klCompletions.add(completions.get(kl[i]));
        }
        Collator.Batch matched = Collator.rightPad(prompts, completions, padId, policy.device());
        Collator.Batch mismatched = Collator.rightPad(prompts, klCompletions, padId, policy.device());
        Tensor policyKl;
        Tensor refMatched;
        Tensor refKl;
        try (NoGradGuard ng = new NoGradGuard()) {
            policyKl = logps(policy, mismatched).logProbs();
            try (var off = reference == policy ? policy.adaptersOff() : null) {
                refMatched = logps(reference, matched).logProbs();
                refKl = logps(reference, mismatched).logProbs();
            }
        }
        CompletionForward f = CompletionForward.of(policy, matched);                 // logits (B, T', V)
        Tensor lp = f.sums().logProbs();                                              // (B)
        KtoLoss.Result r = KtoLoss.compute(lp, refMatched, Tensors.floats(desirable, n).to(policy.device(), org.bytedeco.pytorch.global.torch.ScalarType.Float),
                policyKl, refKl, cfg.beta(), cfg.desirableWeight(), cfg.undesirableWeight());
        return new Output(r.losses().sum(), metrics(r, Tensors.toFloats(lp.detach()),
                CompletionLogits.rowMeans(f.logits(), f.mask()), batch));
    }

    private static LogProbs.Sums logps(CausalLM m, Collator.Batch b) {
        return CompletionForward.of(m, b).sums();
    }

    /** TRL's KTO metrics: per-label sums and counts (logged as means over the label's examples), and kl. */
    private static List<Metric> metrics(KtoLoss.Result r, float[] logps, float[] logits, List<KtoExample> batch) {
        float[] rewards = Tensors.toFloats(r.rewards());
        double[] sum = new double[6];      // rewards, logps, logits for chosen, then for rejected
        int chosen = 0;
        for (int i = 0; i < batch.size(); i++) {
            int o = batch.get(i).desirable() ? 0 : 3;
            chosen += o == 0 ? 1 : 0;
            sum[o] += rewards[i];
            sum[o + 1] += logps[i];
            sum[o + 2] += logits[i];
        }
        int rejected = batch.size() - chosen;
        List<Metric> m = new ArrayList<>();
        m.add(Metric.ratio("rewards/chosen", sum[0], chosen));
        m.add(Metric.ratio("logps/chosen", sum[1], chosen));
        m.add(Metric.ratio("logits/chosen", sum[2], chosen));
        m.add(Metric.ratio("rewards/rejected", sum[3], rejected));
        m.add(Metric.ratio("logps/rejected", sum[4], rejected));
        m.add(Metric.ratio("logits/rejected", sum[5], rejected));
        m.add(Metric.sum("kl", r.kl() * batch.size()));
        return m;
    }

    /** TRL's {@code rewards/margins}: the mean desirable reward minus the mean undesirable one, when both exist. */
    @Override
    public Map<String, Double> derived(Map<String, Double> averages) {
        Double c = averages.get("rewards/chosen");
        Double r = averages.get("rewards/rejected");
        return c != null && r != null ? Map.of("rewards/margins", c - r) : Map.of();
    }
}
