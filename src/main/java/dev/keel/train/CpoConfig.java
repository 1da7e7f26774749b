package dev.keel.train;

import dev.keel.loss.CpoLoss;
import dev.keel.loss.CpoLossType;

/**
 * Settings of CPO and SimPO (docs/ALGORITHMS.md §3.3), with TRL's {@code CPOConfig} names and defaults.
 *
 * @param lossType       the preference term (TRL {@code loss_type}; default sigmoid, CPO itself)
 * @param beta           β &gt; 0 (default 0.1)
 * @param labelSmoothing ε in [0, 0.5), sigmoid and simpo only (default 0)
 * @param simpoGamma     γ ≥ 0, SimPO's target margin (default 0.5)
 * @param cpoAlpha       α ≥ 0, the weight of the NLL (behaviour-cloning) term (default 1; 0 with simpo is SimPO)
 */
public record CpoConfig(CpoLossType lossType, double beta, double labelSmoothing, double simpoGamma, double cpoAlpha) {
    public CpoConfig {
        if (lossType == null) {
            throw new IllegalArgumentException("--loss-type is required");
        }
        CpoLoss.validate(lossType, beta, labelSmoothing, simpoGamma, cpoAlpha);
    }

    /** TRL's defaults: sigmoid, β 0.1, ε 0, γ 0.5, α 1. */
    public static CpoConfig defaults() {
        return new CpoConfig(CpoLossType.SIGMOID, 0.1, 0.0, 0.5, 1.0);
    }

    public CpoConfig withLossType(CpoLossType t) {
        return new CpoConfig(t, beta, labelSmoothing, simpoGamma, cpoAlpha);
    }

    public CpoConfig withCpoAlpha(double a) {
        return new CpoConfig(lossType, beta, labelSmoothing, simpoGamma, a);
    }
}
