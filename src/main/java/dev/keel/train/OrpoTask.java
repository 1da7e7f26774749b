package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.PreferencePair;
import dev.keel.loss.CpoLoss;
import dev.keel.loss.DpoLoss;
import dev.keel.loss.OrpoLoss;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * ORPO (docs/ALGORITHMS.md §3.2): one policy pass over chosen and rejected completions, no reference model. The
 * odds ratio reads length-averaged log-probs, as TRL's {@code concatenated_forward} ({@code average_log_prob=True}).
 */
public final class OrpoTask implements Task<PreferencePair> {
    private final CausalLM policy;
    private final long padId;
    private final OrpoConfig cfg;

    public OrpoTask(CausalLM policy, long padId, OrpoConfig cfg) {
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
        Tensor avg = CpoLoss.perToken(f.sums());                                      // (2B)
        Tensor chosen = avg.narrow(0, 0, n);
        Tensor rejected = avg.narrow(0, n, n);
        OrpoLoss.Result r = OrpoLoss.compute(chosen, rejected, f.nll(), cfg.beta());
        // TRL's ORPO metrics: the DPO family's reward metrics with the rewards λ·P, plus nll_loss and the odds terms
        List<Metric> m = new ArrayList<>(Metric.sums(DpoLoss.metricSums(
                new DpoLoss.Result(r.losses(), r.chosenRewards(), r.rejectedRewards()), chosen, rejected)));
        m.addAll(f.logitMetrics(n));
        m.add(Metric.sum("nll_loss", Tensors.item(f.nll()) * n));
        m.add(Metric.sum("log_odds_ratio", Tensors.item(r.logSigmoidOdds().sum())));
        m.add(Metric.sum("log_odds_chosen", Tensors.item(r.logOdds().sum())));
        return new Output(r.losses().sum(), m);
    }
}
