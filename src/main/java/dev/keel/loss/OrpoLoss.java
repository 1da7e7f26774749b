package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Odds Ratio Preference Optimization, Hong et al. 2024 (arXiv 2403.07691) Eqs. 6-7, as TRL's
 * {@code ORPOTrainer.odds_ratio_loss} and {@code get_batch_loss_metrics} compute it (docs/ALGORITHMS.md §3.2). No
 * reference model.
 *
 * <p>With P_w, P_l the length-averaged log-probabilities of the chosen and rejected completions
 * (log of the geometric-mean token probability) and odds(P) = e^P / (1 − e^P):
 * <pre>
 *   log OR = log odds(P_w) − log odds(P_l) = (P_w − P_l) − (log(1 − e^{P_w}) − log(1 − e^{P_l}))   (Eq. 7, in logs)
 *   L      = L_SFT − λ · log σ(log OR)                                                          (Eq. 6)
 * </pre>
 * L_SFT is the token-mean negative log-likelihood of the chosen completions of the batch. TRL's loss is
 * {@code policy_nll_loss - losses.mean()} with {@code losses = beta * log σ(log_odds)}, so λ is TRL's
 * {@code beta}.
 */
public final class OrpoLoss {
    private OrpoLoss() {}

    /**
     * @param losses          (B) L_SFT − λ log σ(log OR_i): their mean is TRL's loss of the batch
     * @param chosenRewards   (B) λ·P_w, detached (TRL's {@code chosen_rewards})
     * @param rejectedRewards (B) λ·P_l, detached
     * @param logOdds         (B) log OR, detached (TRL logs its mean as {@code log_odds_chosen})
     * @param logSigmoidOdds  (B) log σ(log OR), detached (TRL logs its mean as {@code log_odds_ratio})
     */
    public record Result(Tensor losses, Tensor chosenRewards, Tensor rejectedRewards, Tensor logOdds,
                         Tensor logSigmoidOdds) {}

    /**
     * @param chosen   (B) P_w, per-token mean log-probs of the chosen completions, with a graph
     * @param rejected (B) P_l, likewise for the rejected completions
     * @param nll      0-dim L_SFT, the batch's token-mean NLL of the chosen completions, with a graph
     * @param lambda   λ &gt; 0 (TRL {@code beta}, default 0.1)
     */
    public static Result compute(Tensor chosen, Tensor rejected, Tensor nll, double lambda) {
        KtoLoss.positive(lambda, "--beta");
        Tensor logOdds = logOdds(chosen, rejected);                                   // (B)
        Tensor ratio = torch.log_sigmoid(logOdds);                                    // (B)
        Tensor losses = ratio.mul(s(-lambda)).add(nll);
        return new Result(losses, chosen.detach().mul(s(lambda)), rejected.detach().mul(s(lambda)), logOdds.detach(),
                ratio.detach());
    }

    /**
     * log OR = (P_w − P_l) − (log(1 − e^{P_w}) − log(1 − e^{P_l})), TRL's formula "derived from Eqs. (4) and (7)".
     * log(1 − e^P) is {@link #log1mExp}, stable where TRL's {@code log1p(-exp(P))} loses digits (P near 0).
     */
    public static Tensor logOdds(Tensor chosen, Tensor rejected) {
        return chosen.sub(rejected).sub(log1mExp(chosen).sub(log1mExp(rejected)));
    }

    /**
     * log(1 − e^x) for x &lt; 0: log(−expm1(x)) for x &gt; −ln 2, else log1p(−e^x) (Mächler 2012, "Accurately
     * computing log(1 − exp(−|a|))"); −∞ at x = 0, where the completion has probability 1.
     */
    public static Tensor log1mExp(Tensor x) {
        double ln2 = Math.log(2);
        // each branch sees only its own range, so the branch torch.where discards never has an infinite gradient
        Tensor near = x.clamp_min(s(-ln2)).expm1().neg().log();
        Tensor far = x.clamp_max(s(-ln2)).exp().neg().log1p();
        return torch.where(x.gt(s(-ln2)), near, far);
    }

    /**
     * TRL's token-mean NLL of the chosen completions from per-sequence sums: −Σ_i log π(y_w,i|x_i) / Σ_i |y_w,i|,
     * the value of {@code nn.CrossEntropyLoss()} over the chosen rows with prompt and padding labels ignored.
     *
     * @param chosenSums   (B) summed log-probs of the chosen completions, with a graph
     * @param chosenCounts (B) their token counts
     */
    public static Tensor nll(Tensor chosenSums, Tensor chosenCounts) {
        return chosenSums.sum().neg().div(chosenCounts.sum().to(org.bytedeco.pytorch.global.torch.ScalarType.Float)
                .clamp_min(s(1.0)));
    }
}
