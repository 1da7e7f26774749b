package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.Collator;
import dev.keel.data.PreferencePair;
import dev.keel.loss.DpoLoss;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;

/**
 * DPO and its family (docs/ALGORITHMS.md §3): chosen and rejected completions in one forward pass of the
 * policy, against {@link ReferenceLogps} computed once before training (so no reference model is held in
 * memory).
 */
public final class DpoTask implements Task<PreferencePair> {
    private final CausalLM policy;
    private final long padId;
    private final DpoConfig cfg;
    private final ReferenceLogps reference;

    public DpoTask(CausalLM policy, long padId, DpoConfig cfg, ReferenceLogps reference) {
        if (cfg.referenceFree() != reference.isReferenceFree()) {
            throw new IllegalArgumentException(cfg.referenceFree()
                    ? "reference-free DPO takes ReferenceLogps.referenceFree()"
                    : "DPO with a reference needs the reference log-probs (ReferenceLogps.compute)");
        }
        this.policy = policy;
        this.padId = padId;
        this.cfg = cfg;
        this.reference = reference;
    }

    @Override
    public double weight(List<PreferencePair> batch) {
        return batch.size();
    }

    @Override
    public Output forward(List<PreferencePair> batch) {
        int n = batch.size();
        Collator.Batch b = PairBatch.collate(batch, padId, policy.device());
        CompletionForward f = CompletionForward.of(policy, b);                        // logits (2B, T', V)
        LogProbs.Sums s = f.sums();
        DpoLoss.Pairs p = DpoLoss.ofPairs(cfg.lossType(), s, reference.forBatch(batch, policy.device()), cfg.beta(),
                cfg.labelSmoothing());
        List<Metric> metrics = new ArrayList<>(Metric.sums(DpoLoss.metricSums(p.result(), p.policyChosen(),
                p.policyRejected())));
        // TRL's logits/chosen and logits/rejected: the mean logit over the completion tokens of each half
        double[] means = CompletionLogits.halfMeans(f.logits(), f.mask(), n);
        metrics.add(Metric.sum("logits/chosen", means[0] * n));
        metrics.add(Metric.sum("logits/rejected", means[1] * n));
        return new Output(p.result().losses().sum(), metrics);
    }
}
