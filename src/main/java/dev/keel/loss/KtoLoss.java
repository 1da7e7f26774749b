package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Kahneman-Tversky Optimization, Ethayarajh et al. 2024 (arXiv 2402.01306) Eq. 7, as TRL's
 * {@code KTOTrainer.kto_loss} computes it (docs/ALGORITHMS.md §3.1). Each example is one completion, labelled
 * desirable or undesirable; there are no pairs.
 *
 * <p>With the log-ratio c = log π_θ(y|x) − log π_ref(y|x) and the reference point
 * z₀ = max(0, mean_j(log π_θ(y'_j|x_j) − log π_ref(y'_j|x_j))), a detached estimate of KL(π_θ ‖ π_ref) from
 * mismatched prompt/completion pairs (x_j, y'_j) of the same batch:
 * <pre>
 *   desirable:   λ_D · (1 − σ(β(c − z₀)))
 *   undesirable: λ_U · (1 − σ(β(z₀ − c)))
 * </pre>
 * 1 − σ(a) is computed as σ(−a), the same value without the cancellation at large a.
 */
public final class KtoLoss {
    private KtoLoss() {}

    /**
     * @param losses  (B) weighted per-example loss, with the graph back to the policy log-probs
     * @param rewards (B) implicit reward β·c, detached (TRL's {@code chosen_rewards} for desirable examples,
     *                {@code rejected_rewards} for undesirable ones)
     * @param kl      z₀, the clamped and detached KL estimate (TRL's logged {@code kl})
     */
    public record Result(Tensor losses, Tensor rewards, double kl) {}

    /**
     * Per-example KTO losses; the caller averages them over the batch (TRL: {@code losses.nanmean()}).
     *
     * @param policy       (B) log π_θ(y_i|x_i), summed over completion tokens, with a graph
     * @param reference    (B) log π_ref(y_i|x_i)
     * @param desirable    (B) 1 for a desirable example (label true), 0 for an undesirable one
     * @param policyKl     (M) log π_θ(y'_j|x_j) of the mismatched pairs, no graph needed (it is detached)
     * @param referenceKl  (M) log π_ref(y'_j|x_j)
     * @param beta         β &gt; 0
     * @param desirableWeight   λ_D &gt; 0
     * @param undesirableWeight λ_U &gt; 0
     */
    public static Result compute(Tensor policy, Tensor reference, Tensor desirable, Tensor policyKl, Tensor referenceKl,
            double beta, double desirableWeight, double undesirableWeight) {
        validate(beta, desirableWeight, undesirableWeight);
        double z0 = klReference(policyKl, referenceKl);
        Tensor c = policy.sub(reference);                                             // (B)
        Tensor d = desirable.to(ScalarType.Float);                                    // (B) 1 or 0
        Tensor chosen = c.sub(s(z0)).mul(s(-beta)).sigmoid().mul(s(desirableWeight));         // 1 − σ(β(c − z₀))
        Tensor rejected = c.sub(s(z0)).mul(s(beta)).sigmoid().mul(s(undesirableWeight));      // 1 − σ(β(z₀ − c))
        Tensor losses = chosen.mul(d).add(rejected.mul(d.neg().add(s(1.0))));
        return new Result(losses, c.detach().mul(s(beta)), z0);
    }

    /**
     * z₀ = max(0, mean(policyKl − referenceKl)), detached: TRL's
     * {@code (policy_KL_logps - reference_KL_logps).mean().detach()}, then {@code .clamp(min=0)}.
     *
     * @param policyKl    (M) policy log-probs of the mismatched pairs
     * @param referenceKl (M) reference log-probs of the same pairs
     */
    public static double klReference(Tensor policyKl, Tensor referenceKl) {
        if (policyKl.dim() != 1 || referenceKl.dim() != 1 || policyKl.size(0) != referenceKl.size(0)
                || policyKl.size(0) == 0) {
            throw new IllegalArgumentException("the KL log-probs must be two (M) tensors of one size, M > 0, got "
                    + java.util.Arrays.toString(Tensors.shape(policyKl)) + " and "
                    + java.util.Arrays.toString(Tensors.shape(referenceKl)));
        }
        double mean = Tensors.item(policyKl.detach().sub(referenceKl.detach()).to(ScalarType.Double).mean());
        return Math.max(0.0, mean);
    }

    /**
     * Mismatched pairs for the KL estimate, TRL's {@code _get_kl_dataset}: example i of a batch of n is paired with
     * the completion of example i − 1, and example 0 with that of example n − 1 ("(x_1, y_n), (x_2, y_1), ...").
     *
     * @return for each example i, the index of the completion it is paired with
     */
    public static int[] mismatchedCompletions(int n) {
        if (n < 2) {
            throw new IllegalArgumentException("KTO needs at least 2 examples per batch to pair prompts with other "
                    + "completions for the KL estimate (TRL refuses a batch size of 1), got " + n);
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = (i + n - 1) % n;
        }
        return out;
    }

    /**
     * Checks β and the two weights with messages naming the command-line options.
     *
     * @throws IllegalArgumentException when one is not a finite number &gt; 0
     */
    public static void validate(double beta, double desirableWeight, double undesirableWeight) {
        positive(beta, "--beta");
        positive(desirableWeight, "--desirable-weight");
        positive(undesirableWeight, "--undesirable-weight");
    }

    static void positive(double v, String option) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(option + " must be a finite number > 0, got " + v);
        }
    }
}
