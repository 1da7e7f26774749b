package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.Arrays;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.tensor.Tensors;

/**
 * REINFORCE leave-one-out, Ahmadian et al. 2024 ("Back to Basics: Revisiting REINFORCE Style Optimization for
 * Learning from Human Feedback in LLMs", §3.2, the RLOO estimator), as TRL's {@code RLOOTrainer}
 * (trl/trainer/rloo_trainer.py) computes it (docs/ALGORITHMS.md §5.1). Each prompt gets k samples; each sample's
 * baseline is the mean reward of the other k − 1, which keeps the estimator unbiased without a value model.
 */
public final class Rloo {
    private Rloo() {}

    /**
     * Leave-one-out advantages: A_i = s_i − (Σ_j s_j − s_i) / (k − 1), the sum over the k samples of the prompt
     * of sample i (TRL: {@code baselines = (grouped_sum - grouped_rewards) / (num_generations - 1)};
     * {@code advantages = rewards - baselines}). Equivalently A_i = k/(k − 1) · (s_i − mean_group), so a group's
     * advantages sum to 0.
     *
     * <p>TRL can then normalise the advantages over the batch ({@code normalize_advantages}, off by default):
     * (A − mean) / (std + 1e-4); that is not done here.
     *
     * @param scores (N·k) sequence rewards laid out prompt-major: the k samples of prompt 0, then prompt 1's, …
     *               (for the KL-penalised reward of docs/ALGORITHMS.md §5.1, pass {@link #sequenceReward})
     * @param k      samples per prompt, at least 2
     * @return (N·k) advantages, detached
     * @throws IllegalArgumentException when k &lt; 2, or scores is not 1-D with a multiple of k entries
     */
    public static Tensor advantages(Tensor scores, int k) {
        Tensor g = grouped(scores, k, "RLOO");                                        // (N, k)
        Tensor sum = Tensors.sum(g, 1, true);           // (N, 1)
        Tensor baseline = sum.sub(g).div(s((double) (k - 1)));                        // (N, k)
        return g.sub(baseline).view(-1);
    }

    /**
     * The KL-penalised sequence reward of docs/ALGORITHMS.md §5.1 and TRL's RLOO ("Include the KL penalty in the
     * reward"): s − β Σ_t kl_t · m_t, the per-token KL summed over the response tokens of each sequence.
     * TRL uses k1, kl_t = log π_old(y_t) − log π_ref(y_t); the caller may pass either {@link KlEstimator}.
     *
     * @param score      (B) scores s of the reward model
     * @param klPerToken (B, T) per-token KL estimates; entries where the mask is 0 are ignored, whatever they hold
     * @param mask       (B, T) 1 for response tokens
     * @param beta       β ≥ 0 (TRL {@code beta}, default 0.05)
     * @return (B) rewards, detached
     * @throws IllegalArgumentException on mismatched shapes or a negative β
     */
    public static Tensor sequenceReward(Tensor score, Tensor klPerToken, Tensor mask, double beta) {
        if (score.dim() != 1 || klPerToken.dim() != 2 || !Arrays.equals(Tensors.shape(klPerToken), Tensors.shape(mask))
                || klPerToken.size(0) != score.size(0)) {
            throw new IllegalArgumentException("RLOO sequence reward needs score (B) and KL and mask (B, T), got "
                    + Arrays.toString(Tensors.shape(score)) + ", " + Arrays.toString(Tensors.shape(klPerToken)) + ", "
                    + Arrays.toString(Tensors.shape(mask)));
        }
        if (!(beta >= 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("--kl-coef must be a finite number >= 0, got " + beta);
        }
        Tensor kl = klPerToken.detach();
        Tensor masked = torch.where(Masked.like(mask, kl).gt(s(0.0)), kl, s(0.0));   // (B, T)
        Tensor klSum = Tensors.sum(masked, 1, false);   // (B)
        return score.detach().to(kl.scalar_type()).sub(klSum.mul(s(beta)));
    }

    /** {@code scores} as (N, k), detached, after checking k and the layout. */
    static Tensor grouped(Tensor scores, int k, String method) {
        if (k < 2) {
            throw new IllegalArgumentException(method + " needs at least 2 samples per prompt, got k = " + k);
        }
        if (scores.dim() != 1 || scores.size(0) % k != 0 || scores.size(0) == 0) {
            throw new IllegalArgumentException(method + " scores must be (N·k) with k = " + k
                    + " samples per prompt, got shape " + Arrays.toString(Tensors.shape(scores)));
        }
        return scores.detach().reshape(-1, k);
    }

    /**
     * RLOO's policy loss, TRL's {@code RLOOTrainer}: the clipped surrogate of {@link PpoLoss#policy} on
     * sequence-level log-probabilities, ρ = exp(Σ_t m_t log π_θ(y_t) − Σ_t m_t log π_old(y_t)), with one
     * advantage per sequence (docs/ALGORITHMS.md §5).
     *
     * @param logpNew    (B, T) token log-probs under the policy being trained, with a graph
     * @param logpOld    (B, T) the same under the sampling policy
     * @param advantages (B) leave-one-out advantages ({@link #advantages})
     * @param mask       (B, T) 1 for response tokens
     * @param clipRange  ε &gt; 0
     * @return the loss, clip fraction and approximate KL over the B sequences
     */
    public static PpoLoss.Policy policyLoss(Tensor logpNew, Tensor logpOld, Tensor advantages, Tensor mask,
            double clipRange) {
        Tensor m = Masked.like(mask, logpNew);
        Tensor newSeq = Tensors.sum(logpNew.mul(m), 1, true);                        // (B, 1)
        Tensor oldSeq = Tensors.sum(logpOld.mul(m), 1, true);                        // (B, 1)
        return PpoLoss.policy(newSeq, oldSeq, advantages.view(-1, 1), torch.ones_like(newSeq), clipRange);
    }

    /**
     * TRL's {@code RLOOConfig.normalize_advantages}: the advantages standardised over the whole batch,
     * (A − mean A) / (std A + 1e-4), std unbiased ({@code (advantages - advantages.mean()) / (advantages.std() + 1e-4)}).
     *
     * @param advantages (N) advantages
     * @return (N) normalised advantages, detached
     */
    public static Tensor normalize(Tensor advantages) {
        Tensor a = advantages.detach();
        if (a.dim() != 1 || a.size(0) < 2) {
            throw new IllegalArgumentException("normalising advantages needs a 1-D batch of at least 2, got "
                    + Arrays.toString(Tensors.shape(a)));
        }
        return a.sub(a.mean()).div(a.std(true).add(s(Grpo.STD_EPS)));
    }

    /**
     * {@link #normalize(Tensor)} with the mean and std from {@link Masked#moments} summed over a whole batch that
     * may span the ranks of a data-parallel run: (A − Σa/n) / (std + 1e-4).
     *
     * @param moments {n, Σa, Σa²} over the whole batch
     */
    public static Tensor normalize(Tensor advantages, double[] moments) {
        return advantages.detach().sub(s(moments[1] / moments[0])).div(s(Masked.std(moments) + Grpo.STD_EPS));
    }
}
