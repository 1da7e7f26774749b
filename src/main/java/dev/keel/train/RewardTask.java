package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.Collator;
import dev.keel.data.PreferencePair;
import dev.keel.loss.BradleyTerry;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * Reward modelling (docs/ALGORITHMS.md §2): the scalar head read at the last real token of prompt + completion, the
 * Bradley-Terry loss with the pair's margin, plus TRL's optional centring term c · mean((r_w + r_l)²).
 */
public final class RewardTask implements Task<PreferencePair> {
    private final CausalLM model;
    private final long padId;
    private final double centerCoefficient;

    public RewardTask(CausalLM model, long padId, double centerCoefficient) {
        if (centerCoefficient < 0) {
            throw new IllegalArgumentException("--center-rewards-coefficient must be >= 0, got " + centerCoefficient);
        }
        this.model = model;
        this.padId = padId;
        this.centerCoefficient = centerCoefficient;
    }

    @Override
    public double weight(List<PreferencePair> batch) {
        return batch.size();
    }

    @Override
    public Output forward(List<PreferencePair> batch) {
        int n = batch.size();
        Collator.Batch b = PairBatch.collate(batch, padId, model.device());
        Tensor r = model.sequenceScores(b.inputIds(), b.keep());                     // (2B)
        Tensor chosen = r.narrow(0, 0, n);
        Tensor rejected = r.narrow(0, n, n);
        float[] m = new float[n];
        boolean anyMargin = false;
        for (int i = 0; i < n; i++) {
            m[i] = (float) batch.get(i).margin();
            anyMargin |= m[i] != 0;
        }
        Tensor margin = anyMargin ? Tensors.floats(m, n).to(model.device(), r.scalar_type()) : null;
        Tensor loss = BradleyTerry.losses(chosen, rejected, margin).sum();
        if (centerCoefficient > 0) {
            loss = loss.add(BradleyTerry.centering(chosen, rejected).sum().mul(Tensors.s(centerCoefficient)));
        }
        List<Metric> metrics = new ArrayList<>(Metric.sums(BradleyTerry.metricSums(chosen, rejected)));
        metrics.add(Metric.min("min_reward", BradleyTerry.minReward(chosen, rejected)));
        metrics.add(Metric.max("max_reward", BradleyTerry.maxReward(chosen, rejected)));
        return new Output(loss, metrics);
    }
}
