package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.PreferencePair;
import dev.keel.loss.CpoLoss;
import dev.keel.loss.DpoLoss;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * CPO and SimPO (docs/ALGORITHMS.md §3.3): one policy pass over chosen and rejected completions, no reference
 * model; ipo and simpo read length-averaged log-probs, sigmoid and hinge summed ones, as TRL's
 * {@code concatenated_forward}.
 */
public final class CpoTask implements Task<PreferencePair> {
    private final CausalLM policy;
    private final long padId;
    private final CpoConfig cfg;

    public CpoTask(CausalLM policy, long padId, CpoConfig cfg) {
        this.policy = policy;
        this.padId = padId;
        this.cfg = cfg;
    }

    @Override
    public double weight(List<PreferencePair> batch) {
        return batch.size();
    }

    @Override
    public Output forward(List<PreferencePair> batch) {
        int n = batch.size();
        PolicyPairs f = PolicyPairs.forward(policy, padId, batch);
        Tensor lp = CpoLoss.logProbs(cfg.lossType(), f.sums());                       // (2B)
        Tensor chosen = lp.narrow(0, 0, n);
        Tensor rejected = lp.narrow(0, n, n);
        CpoLoss.Result r = CpoLoss.compute(cfg.lossType(), chosen, rejected, f.nll(), cfg.beta(), cfg.labelSmoothing(),
                cfg.simpoGamma(), cfg.cpoAlpha());
        List<Metric> m = new ArrayList<>(Metric.sums(DpoLoss.metricSums(
                new DpoLoss.Result(r.losses(), r.chosenRewards(), r.rejectedRewards()), chosen, rejected)));
        m.addAll(f.logitMetrics(n));
        // TRL logs nll_loss 0 when cpo_alpha is 0 (it skips the term)
        m.add(Metric.sum("nll_loss", cfg.cpoAlpha() == 0 ? 0 : Tensors.item(f.nll()) * n));
        return new Output(r.losses().sum(), m);
    }
}
