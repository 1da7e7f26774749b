package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.Arrays;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.tensor.Tensors;

/**
 * Generalized advantage estimation, Schulman et al. 2016 ("High-Dimensional Continuous Control Using
 * Generalized Advantage Estimation", Eq. 16), over the response tokens of a batch (docs/ALGORITHMS.md §4.3):
 * <pre>
 *   δ_t = r_t + γ V_{t+1} − V_t
 *   A_t = δ_t + γλ A_{t+1}          (A_T = 0, V_T = 0: nothing follows the last position)
 *   R_t = A_t + V_t                 (the value target)
 * </pre>
 * As TRL's {@code PPOTrainer} (trl/experimental/ppo/ppo_trainer.py, step "6. compute advantages and returns"):
 * rewards and values beyond the end of each response are zero, and the recursion runs backwards over the full
 * width T, so a finished response sees V = 0 after its last token and its padding gets A = R = 0. Here the
 * zeroing is done with {@code mask}: r·m and V·m, then the same recursion.
 *
 * <p>Which mask: TRL's {@code sequence_length} is the index of the last non-pad response token (the EOS when the
 * pad token differs from EOS), and TRL zeroes values only beyond {@code padding_mask_p1}, one position further,
 * where it also adds the score ({@code rewards[i, sequence_length + 1] += score} when that fits in the width,
 * else on the last position). So in TRL the value of the position after EOS is part of the recursion, and
 * passing that one-wider mask here reproduces TRL's numbers exactly. Keel (docs/ALGORITHMS.md §4) puts the score on
 * the EOS token itself and passes the response mask (EOS included), so the last real token bootstraps from
 * V = 0.
 *
 * <p>Advantage whitening is not part of this function: TRL whitens the advantages afterwards over the
 * response tokens ({@link Masked#whiten} with shift) and zeroes the padding; the returns are not whitened.
 */
public final class Gae {
    private Gae() {}

    /**
     * @param advantages (B, T) A_t, 0 where the mask is 0; detached
     * @param returns    (B, T) R_t = A_t + V_t, 0 where the mask is 0; detached
     */
    public record Result(Tensor advantages, Tensor returns) {}

    /**
     * Advantages and returns of a batch of responses, without a graph (inputs are detached first).
     *
     * @param rewards (B, T) per-token rewards r_t (e.g. −β·kl_t plus the score on the last token)
     * @param values  (B, T) V_old(s_t), the value predictions recorded at rollout
     * @param mask    (B, T) 1 for the positions of each response, 0 after its end; each row must be ones then
     *                zeros (right padding), since a 0 followed by a 1 would make no sense as "after the end"
     * @param gamma   discount γ in [0, 1] (TRL default 1)
     * @param lambda  GAE λ in [0, 1] (TRL default 0.95)
     * @throws IllegalArgumentException on mismatched shapes, γ or λ outside [0, 1], or a mask that is not
     *                                  right-padded 0/1
     */
    public static Result compute(Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda) {
        check(rewards, values, mask, gamma, lambda);
        Tensor m = Masked.like(mask.detach(), rewards);
        Tensor r = rewards.detach().mul(m);                                           // (B, T)
        Tensor v = values.detach().to(rewards.scalar_type()).mul(m);                  // (B, T)
        long t = r.size(1);
        Tensor advantages = torch.zeros_like(r);                                      // (B, T)
        Tensor next = null;                                                           // (B) A_{t+1}
        for (long i = t - 1; i >= 0; i--) {
            Tensor delta = r.select(1, i).sub(v.select(1, i));                        // r_t − V_t
            if (i + 1 < t) {
                delta = delta.add(v.select(1, i + 1).mul(s(gamma)));                  // + γ V_{t+1}
            }
            Tensor a = next == null ? delta : delta.add(next.mul(s(gamma * lambda)));
            advantages.select(1, i).copy_(a);
            next = a;
        }
        return new Result(advantages, advantages.add(v));
    }

    private static void check(Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda) {
        long[] shape = Tensors.shape(rewards);
        if (shape.length != 2 || !Arrays.equals(shape, Tensors.shape(values))
                || !Arrays.equals(shape, Tensors.shape(mask))) {
            throw new IllegalArgumentException("GAE needs rewards, values and mask of one (B, T) shape, got "
                    + Arrays.toString(shape) + ", " + Arrays.toString(Tensors.shape(values)) + ", "
                    + Arrays.toString(Tensors.shape(mask)));
        }
        if (!(gamma >= 0 && gamma <= 1)) {
            throw new IllegalArgumentException("--gamma must be within [0, 1], got " + gamma);
        }
        if (!(lambda >= 0 && lambda <= 1)) {
            throw new IllegalArgumentException("--lam must be within [0, 1], got " + lambda);
        }
        float[] m = Tensors.toFloats(mask);
        int cols = (int) shape[1];
        for (int row = 0; row < shape[0]; row++) {
            for (int c = 0; c < cols; c++) {
                float x = m[row * cols + c];
                boolean ok = (x == 0 || x == 1) && (c == 0 || x <= m[row * cols + c - 1]);
                if (!ok) {
                    throw new IllegalArgumentException("GAE mask row " + row + " must be ones then zeros (1 for "
                            + "the response, 0 after its end), got " + Arrays.toString(
                                    Arrays.copyOfRange(m, row * cols, (row + 1) * cols)));
                }
            }
        }
    }
}
