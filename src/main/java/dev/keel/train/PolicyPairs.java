package dev.keel.train;

import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.Collator;
import dev.keel.data.PreferencePair;
import dev.keel.loss.LogProbs;
import dev.keel.loss.OrpoLoss;
import dev.keel.model.CausalLM;

/**
 * One policy forward pass over a batch of pairs (chosen rows, then rejected), for the reference-free pair losses
 * (ORPO, CPO, SimPO): the per-sequence sums and counts, the chosen completions' token-mean NLL, and Keel's mean
 * completion logits.
 *
 * @param sums           (2B) summed completion log-probs and token counts, chosen first, with a graph
 * @param nll            0-dim token-mean NLL of the chosen completions, with a graph
 * @param logitMeans     {chosen, rejected} mean completion logit of each half ({@link CompletionLogits#halfMeans})
 */
record PolicyPairs(LogProbs.Sums sums, Tensor nll, double[] logitMeans) {
    static PolicyPairs forward(CausalLM policy, long padId, List<PreferencePair> batch) {
        int n = batch.size();
        Collator.Batch b = PairBatch.collate(batch, padId, policy.device());
        CompletionForward f = CompletionForward.of(policy, b);                        // logits (2B, T', V)
        LogProbs.Sums s = f.sums();
        Tensor nll = OrpoLoss.nll(s.logProbs().narrow(0, 0, n), s.counts().narrow(0, 0, n));
        return new PolicyPairs(s, nll, CompletionLogits.halfMeans(f.logits(), f.mask(), n));
    }

    /** TRL's {@code logits/chosen} and {@code logits/rejected} as sums over the batch's {@code n} pairs. */
    java.util.List<Metric> logitMetrics(int n) {
        return java.util.List.of(Metric.sum("logits/chosen", logitMeans[0] * n), Metric.sum("logits/rejected", logitMeans[1] * n));
    }
}
