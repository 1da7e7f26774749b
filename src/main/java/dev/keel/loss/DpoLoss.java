package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Per-pair losses of the DPO family (docs/ALGORITHMS.md §3), matching TRL's {@code DPOTrainer.dpo_loss}.
 *
 * <p>Notation: for a pair with chosen completion y_w and rejected y_l, the log-ratios are
 * c = log π_θ(y_w|x) − log π_ref(y_w|x) and r = log π_θ(y_l|x) − log π_ref(y_l|x), and Δ = c − r (TRL's
 * {@code logits}). Every log σ is libtorch's {@code log_sigmoid}, stable for any argument (log-sum-exp form),
 * never log(σ + 1e-10).
 *
 * <p>Reference-free mode (TRL {@code reference_free=True}, log π_ref ≡ 0) is the caller passing zeros for the
 * two reference tensors; the rewards are then β log π_θ.
 */
public final class DpoLoss {
    private DpoLoss() {}

    /**
     * @param losses          (B) per-pair loss, with the graph back to the policy log-probs
     * @param chosenRewards   (B) implicit reward of the chosen completion, β·c, detached
     * @param rejectedRewards (B) implicit reward of the rejected completion, β·r, detached
     */
    public record Result(Tensor losses, Tensor chosenRewards, Tensor rejectedRewards) {}

    /**
     * Per-pair losses of {@code type} and the implicit rewards (TRL {@code dpo_loss}: returns
     * {@code losses, chosen_rewards, rejected_rewards} with the rewards {@code beta * (logps - ref_logps).detach()}).
     * The caller averages (or sums) the losses.
     *
     * <p>The four inputs are (B) float32 sums of completion-token log-probs (prompt and padding masked), except
     * for {@link DpoLossType#IPO}: there the caller passes length-averaged log-probs, sum / completion tokens,
     * for policy and reference alike, as TRL does (Azar et al. state IPO on sequence log-likelihoods; TRL's
     * {@code concatenated_forward} divides by the completion length when {@code loss_type == "ipo"}). The
     * rewards and {@link #metricSums} then report per-token values too.
     *
     * @param type           which loss
     * @param policyChosen   (B) log π_θ(y_w|x), with a graph
     * @param policyRejected (B) log π_θ(y_l|x), with a graph
     * @param refChosen      (B) log π_ref(y_w|x), no graph needed; zeros for reference-free training
     * @param refRejected    (B) log π_ref(y_l|x); zeros for reference-free training
     * @param beta           β &gt; 0 (TRL {@code beta}; IPO's τ)
     * @param labelSmoothing ε in [0, 0.5), read by {@code sigmoid} (cDPO) and {@code robust} only; must be 0
     *                       for the other types
     * @throws IllegalArgumentException on an invalid β or ε, or inputs that are not four (B) tensors
     */
    public static Result compute(DpoLossType type, Tensor policyChosen, Tensor policyRejected, Tensor refChosen,
            Tensor refRejected, double beta, double labelSmoothing) {
        validate(type, beta, labelSmoothing);
        checkShapes(policyChosen, policyRejected, refChosen, refRejected);
        Tensor c = policyChosen.sub(refChosen);                                       // (B)
        Tensor r = policyRejected.sub(refRejected);                                   // (B)
        Tensor losses = switch (type) {
            case SIGMOID -> sigmoid(c.sub(r), beta, labelSmoothing);
            case ROBUST -> robust(c.sub(r), beta, labelSmoothing);
            case HINGE -> hinge(c.sub(r), beta);
            case IPO -> ipo(c.sub(r), beta);
            case BCO_PAIR -> bcoPair(c, r, beta, 0.0);
            case SPPO_HARD -> sppoHard(c, r, beta);
            case NCA_PAIR -> ncaPair(c, r, beta);
            case APO_ZERO -> apoZero(c, r, beta);
            case APO_DOWN -> apoDown(c, r, beta);
        };
        return new Result(losses, c.detach().mul(s(beta)), r.detach().mul(s(beta)));
    }

    /**
     * The losses of a batch of B pairs laid out as one (2B) batch, chosen rows first: {@link #compute} on the
     * two halves, after the length averaging that {@link DpoLossType#IPO} needs (policy and reference sums
     * divided by each completion's token count, as TRL's {@code concatenated_forward} does for
     * {@code loss_type == "ipo"}); the other types use the sums as they are.
     *
     * @param policy    (2B) policy log-prob sums and (2B) completion token counts ({@link LogProbs#sequence})
     * @param reference (2B) reference log-prob sums, same layout; zeros for reference-free training
     * @return the result, and the policy log-probs as the loss saw them (per token for IPO), for
     *         {@link #metricSums}
     */
    public static Pairs ofPairs(DpoLossType type, LogProbs.Sums policy, Tensor reference, double beta,
            double labelSmoothing) {
        Tensor lp = policy.logProbs();                                                // (2B)
        Tensor ref = reference;
        if (type == DpoLossType.IPO) {
            Tensor counts = policy.counts().to(ScalarType.Float).clamp_min(s(1.0));
            lp = lp.div(counts);
            ref = ref.div(counts);
        }
        long n = lp.size(0) / 2;
        Tensor pc = lp.narrow(0, 0, n);
        Tensor pr = lp.narrow(0, n, n);
        Result r = compute(type, pc, pr, ref.narrow(0, 0, n), ref.narrow(0, n, n), beta, labelSmoothing);
        return new Pairs(r, pc, pr);
    }

    /** {@link #ofPairs}' result with the (B) policy log-probs of each half as the loss saw them. */
    public record Pairs(Result result, Tensor policyChosen, Tensor policyRejected) {}

    /**
     * DPO, Rafailov et al. 2023 Eq. 7, with conservative label smoothing (cDPO, Mitchell 2023 note Eq. 3):
     * −(1−ε) log σ(βΔ) − ε log σ(−βΔ). ε = 0 is plain DPO.
     *
     * @param delta (B) Δ = c − r
     */
    public static Tensor sigmoid(Tensor delta, double beta, double labelSmoothing) {
        Tensor z = delta.mul(s(beta));
        Tensor loss = torch.log_sigmoid(z).neg();
        if (labelSmoothing == 0) {
            return loss;
        }
        return loss.mul(s(1 - labelSmoothing)).sub(torch.log_sigmoid(z.neg()).mul(s(labelSmoothing)));
    }

    /**
     * Robust DPO, Chowdhury et al. 2024 (rDPO), an unbiased loss when a fraction ε of the labels is flipped:
     * (−(1−ε) log σ(βΔ) + ε log σ(−βΔ)) / (1 − 2ε). ε = 0 is plain DPO; ε must be below ½.
     *
     * @param delta (B) Δ = c − r
     */
    public static Tensor robust(Tensor delta, double beta, double labelSmoothing) {
        Tensor z = delta.mul(s(beta));
        Tensor num = torch.log_sigmoid(z).mul(s(-(1 - labelSmoothing)))
                .add(torch.log_sigmoid(z.neg()).mul(s(labelSmoothing)));
        return num.div(s(1 - 2 * labelSmoothing));
    }

    /**
     * Hinge loss of SLiC (Zhao et al. 2023) on the DPO log-ratio, as TRL's {@code hinge}: relu(1 − βΔ).
     *
     * @param delta (B) Δ = c − r
     */
    public static Tensor hinge(Tensor delta, double beta) {
        return delta.mul(s(-beta)).add(s(1.0)).relu();
    }

    /**
     * IPO, Azar et al. 2023 Eq. 17 with τ = β: (Δ − 1/(2β))². Δ is built from length-averaged log-probs (see
     * {@link #compute}); the loss pulls βΔ towards ½ instead of pushing it to infinity.
     *
     * @param delta (B) Δ = c − r from per-token log-probs
     */
    public static Tensor ipo(Tensor delta, double beta) {
        return delta.sub(s(1 / (2 * beta))).square();
    }

    /**
     * Pairwise binary classifier optimisation, Jung et al. 2024: −log σ(βc − δ) − log σ(−(βr − δ)), chosen
     * rewards classified as positive and rejected as negative around the shift δ.
     *
     * <p>{@link #compute} uses δ = 0, the formula of docs/ALGORITHMS.md §3. TRL's {@code bco_pair} instead uses a
     * running mean of the detached rewards, mean(βc, βr) over all batches so far ({@code RunningMoments}),
     * updated before each loss; a caller that wants TRL's behaviour keeps that mean and calls this directly.
     *
     * @param c     (B) chosen log-ratio
     * @param r     (B) rejected log-ratio
     * @param shift δ, a constant (no gradient flows through it)
     */
    public static Tensor bcoPair(Tensor c, Tensor r, double beta, double shift) {
        Tensor chosen = torch.log_sigmoid(c.mul(s(beta)).sub(s(shift)));
        Tensor rejected = torch.log_sigmoid(r.mul(s(-beta)).add(s(shift)));
        return chosen.add(rejected).neg();
    }

    /**
     * SPPO with hard preference probabilities (P = 1 for the winner, 0 for the loser), Wu et al. 2024 Eq. 4.7
     * as TRL's {@code sppo_hard}: (c − 1/(2β))² + (r + 1/(2β))².
     *
     * @param c (B) chosen log-ratio
     * @param r (B) rejected log-ratio
     */
    public static Tensor sppoHard(Tensor c, Tensor r, double beta) {
        double half = 1 / (2 * beta);
        return c.sub(s(half)).square().add(r.add(s(half)).square());
    }

    /**
     * Noise contrastive alignment for pairs, Chen et al. 2024 (NCA):
     * −log σ(βc) − ½ log σ(−βc) − ½ log σ(−βr).
     *
     * @param c (B) chosen log-ratio
     * @param r (B) rejected log-ratio
     */
    public static Tensor ncaPair(Tensor c, Tensor r, double beta) {
        Tensor bc = c.mul(s(beta));
        Tensor br = r.mul(s(beta));
        return torch.log_sigmoid(bc).add(torch.log_sigmoid(bc.neg()).mul(s(0.5)))
                .add(torch.log_sigmoid(br.neg()).mul(s(0.5))).neg();
    }

    /**
     * Anchored preference optimisation, zero variant, D'Oosterlinck et al. 2024 Eq. 7: 1 − σ(βc) + σ(βr),
     * for chosen completions better than the model's own (raise chosen, lower rejected). Computed as
     * σ(−βc) + σ(βr), the same value without the cancellation in 1 − σ(βc) when βc is large.
     *
     * @param c (B) chosen log-ratio
     * @param r (B) rejected log-ratio
     */
    public static Tensor apoZero(Tensor c, Tensor r, double beta) {
        return c.mul(s(-beta)).sigmoid().add(r.mul(s(beta)).sigmoid());
    }

    /**
     * Anchored preference optimisation, down variant, D'Oosterlinck et al. 2024 Eq. 8: σ(βc) + 1 − σ(βΔ), for
     * chosen completions worse than the model's own (lower chosen, lower rejected more). Computed as
     * σ(βc) + σ(−βΔ).
     *
     * @param c (B) chosen log-ratio
     * @param r (B) rejected log-ratio
     */
    public static Tensor apoDown(Tensor c, Tensor r, double beta) {
        return c.mul(s(beta)).sigmoid().add(c.sub(r).mul(s(-beta)).sigmoid());
    }

    /**
     * TRL's DPO metrics summed over the batch, for a training loop that divides every sum by the number of
     * pairs of the accumulated batch (TRL logs batch means of the same quantities):
     * <ul>
     * <li>{@code rewards/chosen} = Σ βc, {@code rewards/rejected} = Σ βr</li>
     * <li>{@code rewards/accuracies} = Σ [βc &gt; βr] (TRL compares the rewards; a tie counts as wrong)</li>
     * <li>{@code rewards/margins} = Σ (βc − βr)</li>
     * <li>{@code logps/chosen} = Σ log π_θ(y_w|x), {@code logps/rejected} = Σ log π_θ(y_l|x)</li>
     * </ul>
     * TRL's {@code logits/chosen} and {@code logits/rejected} (mean model logits) need the logits, which this
     * function never sees; the caller adds them if wanted.
     *
     * @param result         the result of {@link #compute} on the same batch
     * @param policyChosen   (B) the policy log-probs given to {@link #compute}
     * @param policyRejected (B) likewise for the rejected completions
     */
    public static Map<String, Double> metricSums(Result result, Tensor policyChosen, Tensor policyRejected) {
        float[] cr = Tensors.toFloats(result.chosenRewards());
        float[] rr = Tensors.toFloats(result.rejectedRewards());
        float[] pc = Tensors.toFloats(policyChosen);
        float[] pr = Tensors.toFloats(policyRejected);
        double chosen = 0;
        double rejected = 0;
        double correct = 0;
        double margin = 0;
        double logpChosen = 0;
        double logpRejected = 0;
        for (int i = 0; i < cr.length; i++) {
            chosen += cr[i];
            rejected += rr[i];
            correct += cr[i] > rr[i] ? 1 : 0;
            margin += (double) cr[i] - rr[i];
            logpChosen += pc[i];
            logpRejected += pr[i];
        }
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("rewards/chosen", chosen);
        m.put("rewards/rejected", rejected);
        m.put("rewards/accuracies", correct);
        m.put("rewards/margins", margin);
        m.put("logps/chosen", logpChosen);
        m.put("logps/rejected", logpRejected);
        return m;
    }

    /**
     * Checks β and ε with messages naming the command-line options.
     *
     * @throws IllegalArgumentException when β ≤ 0 or not finite, ε outside [0, 0.5), or ε &gt; 0 for a loss
     *                                  type that does not read it
     */
    public static void validate(DpoLossType type, double beta, double labelSmoothing) {
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("--beta must be a finite number > 0, got " + beta);
        }
        if (type == DpoLossType.ROBUST && !(labelSmoothing < 0.5)) {
            throw new IllegalArgumentException("--label-smoothing must be < 0.5 for loss type robust (it divides by"
                    + " 1 - 2 * label smoothing), got " + labelSmoothing);
        }
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
            throw new IllegalArgumentException("--label-smoothing must be within [0, 0.5), got " + labelSmoothing);
        }
        if (labelSmoothing > 0 && !type.usesLabelSmoothing()) {
            throw new IllegalArgumentException("--label-smoothing applies to loss types sigmoid and robust only,"
                    + " got " + labelSmoothing + " with loss type " + type.trlName() + "; set it to 0");
        }
    }

    private static void checkShapes(Tensor pc, Tensor pr, Tensor rc, Tensor rr) {
        long b = pc.dim() == 1 ? pc.size(0) : -1;
        for (Tensor t : new Tensor[] {pc, pr, rc, rr}) {
            if (t.dim() != 1 || t.size(0) != b) {
                throw new IllegalArgumentException("DPO log-probs must be four (B) tensors of one size, got shapes "
                        + shapeOf(pc) + ", " + shapeOf(pr) + ", " + shapeOf(rc) + ", " + shapeOf(rr));
            }
        }
    }

    private static String shapeOf(Tensor t) {
        return java.util.Arrays.toString(Tensors.shape(t));
    }
}
