package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Contrastive Preference Optimization, Xu et al. 2024 (arXiv 2401.08417) Eq. 3, and SimPO, Meng et al. 2024 (arXiv
 * 2405.14734) Eq. 6, as TRL's {@code CPOTrainer.cpo_loss} and {@code get_batch_loss_metrics} compute them
 * (docs/ALGORITHMS.md §3.3). Both are reference-free: with Δ = log π_θ(y_w|x) − log π_θ(y_l|x) (TRL's
 * {@code logits}) the per-pair preference term is
 * <pre>
 *   sigmoid: −(1−ε) log σ(βΔ) − ε log σ(−βΔ)                      (CPO Eq. 3 at ε = 0)
 *   hinge:   relu(1 − βΔ)
 *   ipo:     (Δ − 1/(2β))²                                         (Δ from length-averaged log-probs)
 *   simpo:   −(1−ε) log σ(βΔ − γ) − ε log σ(−(βΔ − γ))             (SimPO Eq. 6 at ε = 0; Δ length-averaged)
 * </pre>
 * and the loss of a pair is that term plus α times the batch's token-mean NLL of the chosen completions (CPO's
 * behaviour-cloning regulariser, L_CPO = L_prefer + L_NLL in the paper's §3; TRL {@code cpo_alpha}). SimPO itself is {@code simpo} with α = 0;
 * TRL calls α &gt; 0 with simpo "CPO-SimPO". TRL writes the margin as {@code logits - simpo_gamma / beta}, inside
 * β·(...): the same βΔ − γ.
 */
public final class CpoLoss {
    private CpoLoss() {}

    /**
     * @param losses          (B) preference term + α·NLL: their mean is TRL's loss of the batch
     * @param chosenRewards   (B) β·log π_θ(y_w|x) (per token for ipo and simpo), detached
     * @param rejectedRewards (B) β·log π_θ(y_l|x), detached
     */
    public record Result(Tensor losses, Tensor chosenRewards, Tensor rejectedRewards) {}

    /**
     * @param chosen         (B) log π_θ(y_w|x): sums, or per-token means when {@link CpoLossType#lengthNormalised()}
     * @param rejected       (B) log π_θ(y_l|x), likewise
     * @param nll            0-dim token-mean NLL of the chosen completions ({@link OrpoLoss#nll}); ignored at α = 0
     * @param beta           β &gt; 0
     * @param labelSmoothing ε in [0, 0.5), for sigmoid and simpo only
     * @param simpoGamma     γ ≥ 0, the target reward margin of simpo (TRL {@code simpo_gamma}); read by simpo only
     * @param alpha          α ≥ 0 (TRL {@code cpo_alpha})
     */
    public static Result compute(CpoLossType type, Tensor chosen, Tensor rejected, Tensor nll, double beta,
            double labelSmoothing, double simpoGamma, double alpha) {
        validate(type, beta, labelSmoothing, simpoGamma, alpha);
        Tensor delta = chosen.sub(rejected);                                          // (B)
        Tensor pref = switch (type) {
            case SIGMOID -> DpoLoss.sigmoid(delta, beta, labelSmoothing);
            case HINGE -> DpoLoss.hinge(delta, beta);
            case IPO -> DpoLoss.ipo(delta, beta);
            case SIMPO -> DpoLoss.sigmoid(delta.sub(s(simpoGamma / beta)), beta, labelSmoothing);
        };
        Tensor losses = alpha == 0 ? pref : pref.add(nll.mul(s(alpha)));
        return new Result(losses, chosen.detach().mul(s(beta)), rejected.detach().mul(s(beta)));
    }

    /**
     * The (B) log-probs the loss reads from (2B) per-sequence sums and counts laid out chosen first: the sums, or
     * sum / count for a {@link CpoLossType#lengthNormalised()} type.
     */
    public static Tensor logProbs(CpoLossType type, LogProbs.Sums s) {
        return type.lengthNormalised() ? perToken(s) : s.logProbs();
    }

    /** Per-token mean log-probs, sum / max(1, count) (TRL's {@code average_log_prob=True}). */
    public static Tensor perToken(LogProbs.Sums s) {
        return s.logProbs().div(s.counts().to(ScalarType.Float).clamp_min(s(1.0)));
    }

    /**
     * Checks the settings with messages naming the command-line options.
     *
     * @throws IllegalArgumentException when β ≤ 0, ε outside [0, 0.5) or set for hinge or ipo, γ &lt; 0 or α &lt; 0
     */
    public static void validate(CpoLossType type, double beta, double labelSmoothing, double simpoGamma, double alpha) {
        KtoLoss.positive(beta, "--beta");
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
            throw new IllegalArgumentException("--label-smoothing must be within [0, 0.5), got " + labelSmoothing);
        }
        if (labelSmoothing > 0 && !type.usesLabelSmoothing()) {
            throw new IllegalArgumentException("--label-smoothing applies to loss types sigmoid and simpo only, got "
                    + labelSmoothing + " with loss type " + type.trlName() + "; set it to 0");
        }
        if (!(simpoGamma >= 0) || Double.isInfinite(simpoGamma)) {
            throw new IllegalArgumentException("--simpo-gamma must be a finite number >= 0, got " + simpoGamma);
        }
        if (!(alpha >= 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("--cpo-alpha must be a finite number >= 0, got " + alpha);
        }
    }
}
