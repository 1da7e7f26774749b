package dev.keel.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.data.Collator;
import dev.keel.data.PreferencePair;
import dev.keel.loss.DpoLoss;
import dev.keel.loss.DpoLossType;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * DPO and its family (algorithms.md §3): chosen and rejected completions in one forward pass of the policy,
 * against reference log-probabilities computed once before training (so no reference model is held in memory).
 * IPO uses log-probabilities averaged over each completion's tokens, as TRL does.
 */
public final class DpoTask implements Task<PreferencePair> {
    private final CausalLM policy;
    private final long padId;
    private final DpoLossType type;
    private final double beta;
    private final double labelSmoothing;

    public DpoTask(CausalLM policy, long padId, DpoLossType type, double beta, double labelSmoothing) {
        this.policy = policy;
        this.padId = padId;
        this.type = type;
        this.beta = beta;
        this.labelSmoothing = labelSmoothing;
    }

    @Override
    public double weight(List<PreferencePair> batch) {
        return batch.size();
    }

    @Override
    public Output forward(List<PreferencePair> batch) {
        int n = batch.size();
        Collator.Batch b = PairBatch.collate(batch, padId, policy.device());
        Tensor logits = policy.forward(b.inputIds(), b.keep());                       // (2B, T, V)
        LogProbs.Sums s = LogProbs.sequence(logits, b.inputIds(), b.completionMask());
        Tensor lp = s.logProbs();                                                    // (2B)
        float[] ref = new float[2 * n];
        for (int i = 0; i < n; i++) {
            ref[i] = (float) batch.get(i).refChosen();
            ref[n + i] = (float) batch.get(i).refRejected();
        }
        Tensor refT = Tensors.floats(ref, 2 * n).to(policy.device(), ScalarType.Float);
        if (type == DpoLossType.IPO) {
            Tensor counts = s.counts().to(ScalarType.Float).clamp_min(Tensors.s(1.0));
            lp = lp.div(counts);
            refT = refT.div(counts);
        }
        Tensor pc = lp.narrow(0, 0, n);
        Tensor pr = lp.narrow(0, n, n);
        Tensor rc = refT.narrow(0, 0, n);
        Tensor rr = refT.narrow(0, n, n);
        DpoLoss.Result res = DpoLoss.compute(type, pc, pr, rc, rr, beta, labelSmoothing);
        Map<String, Double> metrics = new LinkedHashMap<>(DpoLoss.metricSums(res, pc, pr));
        // TRL's logits/chosen and logits/rejected: the mean logit over the completion tokens of each half
        long t = b.inputIds().size(1);
        Tensor tokenMeans = logits.detach().narrow(1, 0, t - 1).mean(new long[] {-1}, false, new ScalarTypeOptional()); // (2B, T-1)
        Tensor mask = b.completionMask().narrow(1, 1, t - 1).to(ScalarType.Float);
        Tensor masked = tokenMeans.to(ScalarType.Float).mul(mask);
        double chosenMean = Tensors.item(masked.narrow(0, 0, n).sum()) / Math.max(1, Tensors.item(mask.narrow(0, 0, n).sum()));
        double rejectedMean = Tensors.item(masked.narrow(0, n, n).sum()) / Math.max(1, Tensors.item(mask.narrow(0, n, n).sum()));
        metrics.put("logits/chosen", chosenMean * n);
        metrics.put("logits/rejected", rejectedMean * n);
        return new Output(res.losses().sum(), metrics);
    }
}
