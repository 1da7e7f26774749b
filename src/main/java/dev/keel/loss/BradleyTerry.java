package dev.keel.loss;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.tensor.Tensors;

/**
 * The pairwise reward-model loss (docs/ALGORITHMS.md §2): Bradley-Terry as in Ouyang et al. 2022 Eq. 1 and the DPO
 * paper Eq. 2, with TRL {@code RewardTrainer}'s optional per-pair margin and reward centering.
 *
 * <p>The full loss of a batch of B pairs, as TRL's {@code compute_loss}:
 * mean(losses(r_w, r_l, m)) + c · mean(centering(r_w, r_l)), with c TRL's
 * {@code center_rewards_coefficient} (off by default). Here both terms are per pair, so a caller that sums
 * over micro-batches and divides by the pairs of the accumulated batch gets the same value.
 */
public final class BradleyTerry {
    private BradleyTerry() {}

    /**
     * −log σ(r_w − r_l − m) per pair (Ouyang et al. 2022 Eq. 1; the margin m is TRL's, from Llama 2's reward
     * model, Touvron et al. 2023 Eq. 2). Computed with libtorch's stable {@code log_sigmoid}.
     *
     * @param rChosen   (B) rewards of the chosen completions, with a graph
     * @param rRejected (B) rewards of the rejected completions, with a graph
     * @param margin    (B) per-pair margin m, or null for m = 0
     * @return (B) per-pair losses
     */
    public static Tensor losses(Tensor rChosen, Tensor rRejected, Tensor margin) {
        checkShapes(rChosen, rRejected);
        Tensor d = rChosen.sub(rRejected);                                            // (B)
        if (margin != null) {
            checkShapes(rChosen, margin);
            d = d.sub(margin);
        }
        return torch.log_sigmoid(d).neg();
    }

    /**
     * (r_w + r_l)² per pair, the reward-centering term of Eisenstein et al. 2023 as TRL adds it:
     * {@code center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)}. It pulls the
     * mean reward of each pair towards 0, which the Bradley-Terry loss alone leaves free. The caller adds
     * c · mean over pairs (or c · sum / pairs).
     *
     * @param rChosen   (B) with a graph
     * @param rRejected (B) with a graph
     * @return (B) per-pair (r_w + r_l)²
     */
    public static Tensor centering(Tensor rChosen, Tensor rRejected) {
        checkShapes(rChosen, rRejected);
        return rChosen.add(rRejected).square();
    }

    /**
     * TRL's reward-model metrics summed over the batch, for a loop that divides every sum by the number of pairs:
     * <ul>
     * <li>{@code accuracy} = Σ [r_w &gt; r_l] (a tie counts as wrong, as in TRL)</li>
     * <li>{@code margin} = Σ (r_w − r_l), without the margin m, as TRL logs it</li>
     * <li>{@code mean_reward} = Σ (r_w + r_l) / 2, so that dividing by the pairs gives the mean over all 2B
     *     rewards, TRL's {@code all_rewards.mean()}</li>
     * </ul>
     * {@code min_reward} and {@code max_reward} are not averages: see {@link #minReward} and
     * {@link #maxReward}.
     *
     * @param rChosen   (B)
     * @param rRejected (B)
     */
    public static Map<String, Double> metricSums(Tensor rChosen, Tensor rRejected) {
        checkShapes(rChosen, rRejected);
        float[] w = Tensors.toFloats(rChosen);
        float[] l = Tensors.toFloats(rRejected);
        double correct = 0;
        double margin = 0;
        double mean = 0;
        for (int i = 0; i < w.length; i++) {
            correct += w[i] > l[i] ? 1 : 0;
            margin += (double) w[i] - l[i];
            mean += ((double) w[i] + l[i]) / 2;
        }
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("accuracy", correct);
        m.put("margin", margin);
        m.put("mean_reward", mean);
        return m;
    }

    /**
     * The smallest of the 2B rewards of the batch (TRL {@code min_reward} = {@code all_rewards.min()}). Over
     * micro-batches of one optimizer step the caller combines with {@link Math#min}; TRL then logs the mean
     * of these per-step minima over the logging interval, not the minimum over it.
     *
     * @param rChosen   (B)
     * @param rRejected (B)
     * @return +∞ for an empty batch, the identity of min
     */
    public static double minReward(Tensor rChosen, Tensor rRejected) {
        checkShapes(rChosen, rRejected);
        double min = Double.POSITIVE_INFINITY;
        for (float v : Tensors.toFloats(rChosen)) {
            min = Math.min(min, v);
        }
        for (float v : Tensors.toFloats(rRejected)) {
            min = Math.min(min, v);
        }
        return min;
    }

    /**
     * The largest of the 2B rewards of the batch (TRL {@code max_reward}); combine with {@link Math#max}, as
     * {@link #minReward} describes.
     *
     * @return −∞ for an empty batch, the identity of max
     */
    public static double maxReward(Tensor rChosen, Tensor rRejected) {
        checkShapes(rChosen, rRejected);
        double max = Double.NEGATIVE_INFINITY;
        for (float v : Tensors.toFloats(rChosen)) {
            max = Math.max(max, v);
        }
        for (float v : Tensors.toFloats(rRejected)) {
            max = Math.max(max, v);
        }
        return max;
    }

    private static void checkShapes(Tensor a, Tensor b) {
        if (a.dim() != 1 || b.dim() != 1 || a.size(0) != b.size(0)) {
            throw new IllegalArgumentException("rewards must be (B) tensors of one size, got shapes "
                    + Arrays.toString(Tensors.shape(a)) + " and " + Arrays.toString(Tensors.shape(b)));
        }
    }
}
