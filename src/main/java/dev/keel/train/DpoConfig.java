package dev.keel.train;

import dev.keel.loss.DpoLoss;
import dev.keel.loss.DpoLossType;

/**
 * Settings of DPO and its family (docs/ALGORITHMS.md §3), with TRL's names and defaults.
 *
 * @param lossType       which loss (TRL {@code loss_type}; default sigmoid, DPO itself)
 * @param beta           β &gt; 0 (default 0.1)
 * @param labelSmoothing ε of cDPO and robust DPO, in [0, 0.5) (default 0)
 * @param referenceFree  log π_ref ≡ 0 instead of a reference model (default false)
 */
public record DpoConfig(DpoLossType lossType, double beta, double labelSmoothing, boolean referenceFree) {
    public DpoConfig {
        if (lossType == null) {
            throw new IllegalArgumentException("--loss-type is required");
        }
        DpoLoss.validate(lossType, beta, labelSmoothing);
    }

    /** TRL's defaults: sigmoid, β 0.1, no label smoothing, with a reference. */
    public static DpoConfig defaults() {
        return new DpoConfig(DpoLossType.SIGMOID, 0.1, 0.0, false);
    }

    public DpoConfig withLossType(DpoLossType t) {
        return new DpoConfig(t, beta, labelSmoothing, referenceFree);
    }

    public DpoConfig withBeta(double b) {
        return new DpoConfig(lossType, b, labelSmoothing, referenceFree);
    }

    public DpoConfig withLabelSmoothing(double e) {
        return new DpoConfig(lossType, beta, e, referenceFree);
    }

    public DpoConfig withReferenceFree(boolean f) {
        return new DpoConfig(lossType, beta, labelSmoothing, f);
    }
}
