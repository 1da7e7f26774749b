package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.Arrays;

import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

import dev.keel.tensor.Tensors;

/**
 * The clipped PPO losses (Schulman et al. 2017, "Proximal Policy Optimization Algorithms", Eq. 7 and the clipped
 * value loss of its reference implementation) in the RLHF form of docs/ALGORITHMS.md §4, matching the minibatch step
 * of TRL's {@code PPOTrainer} (trl/experimental/ppo/ppo_trainer.py). All means are token means over the mask
 * ({@link Masked#mean}); the caller adds L_pg + vf_coef · L_vf.
 *
 * <p>Log-probs, values and advantages at positions where the mask is 0 may hold anything finite or not: the
 * log-ratio is taken as 0 there (TRL fills both log-probs with the same {@code INVALID_LOGPROB}, which gives the
 * same 0), so an overflowing ratio at a pad cannot turn a masked mean into NaN.
 */
public final class PpoLoss {
    private PpoLoss() {}

    /**
     * @param loss     0-dim L_pg, with the graph back to {@code logpNew}
     * @param clipFrac 0-dim fraction of response tokens where the clipped term is the larger (TRL
     *                 {@code pg_clipfrac}, logged as {@code policy/clipfrac_avg}); detached
     * @param approxKl 0-dim ½ mean((log π_θ − log π_old)²) (TRL {@code approxkl}, logged as
     *                 {@code policy/approxkl_avg}); detached
     */
    public record Policy(Tensor loss, Tensor clipFrac, Tensor approxKl) {}

    /**
     * @param loss     0-dim L_vf, with the graph back to {@code vNew}
     * @param clipFrac 0-dim fraction of tokens where the clipped value loss is the larger (TRL
     *                 {@code vf_clipfrac}, logged as {@code val/clipfrac_avg}); detached
     */
    public record Value(Tensor loss, Tensor clipFrac) {}

    /**
     * The clipped surrogate, as a loss to minimise (Schulman et al. 2017 Eq. 7, negated; TRL {@code pg_loss}):
     * <pre>
     *   ρ_t = exp(log π_θ(y_t) − log π_old(y_t))
     *   L_pg = masked_mean(max(−A_t ρ_t, −A_t clip(ρ_t, 1 − ε, 1 + ε)))
     *   clipFrac = masked_mean([−A_t clip(ρ_t, 1 − ε, 1 + ε) &gt; −A_t ρ_t])
     *   approxKl = ½ mean((log π_θ − log π_old)²)
     * </pre>
     * approxKl follows TRL's expression {@code 0.5 * (logprobs_diff ** 2).mean()} exactly: a plain mean over
     * all B·T positions, not a masked mean, with the difference 0 at padding (TRL's fill value), so padding
     * dilutes it. It is ½ E[l²], the k2 estimator of Schulman's "Approximating KL Divergence" note, of
     * KL(π_old ‖ π_θ).
     *
     * @param logpNew    (B, T) log-probs of the sampled tokens under the policy being trained, with a graph
     * @param logpOld    (B, T) the same under the rollout policy; detached here
     * @param advantages (B, T) A_t (whitened GAE advantages for PPO); detached here
     * @param mask       (B, T) 1 for response tokens
     * @param clipRange  ε &gt; 0 (TRL {@code cliprange}, default 0.2)
     */
    public static Policy policy(Tensor logpNew, Tensor logpOld, Tensor advantages, Tensor mask, double clipRange) {
        checkShapes("policy", logpNew, logpOld, advantages, mask);
        checkPositive("--cliprange", clipRange);
        Tensor m = Masked.like(mask, logpNew);
        Tensor on = m.gt(s(0.0));
        Tensor diff = torch.where(on, logpNew.sub(logpOld.detach()), s(0.0));       // (B, T), 0 at padding
        Tensor a = torch.where(on, advantages.detach().to(logpNew.scalar_type()), s(0.0));
        Tensor ratio = diff.exp();
        Tensor unclipped = a.neg().mul(ratio);                                        // −A ρ
        Tensor clipped = a.neg().mul(ratio.clamp(new ScalarOptional(s(1 - clipRange)),
                new ScalarOptional(s(1 + clipRange))));                               // −A clip(ρ)
        Tensor loss = Masked.mean(unclipped.max(clipped), m);
        Tensor d = diff.detach();
        Tensor clipFrac = Masked.mean(clipped.detach().gt(unclipped.detach()).to(d.scalar_type()), m);
        Tensor approxKl = d.square().mean().mul(s(0.5));
        return new Policy(loss, clipFrac, approxKl);
    }

    /**
     * The clipped value loss (docs/ALGORITHMS.md §4; TRL {@code vf_loss}):
     * <pre>
     *   V_clip = clip(V, V_old − ε_v, V_old + ε_v)
     *   L_vf = ½ masked_mean(max((V − R)², (V_clip − R)²))
     *   clipFrac = masked_mean([(V_clip − R)² &gt; (V − R)²])
     * </pre>
     * TRL masks the value loss with {@code ~padding_mask_p1}, one position wider than the response (see
     * {@link Gae}); the caller passes the mask it used for {@link Gae#compute}.
     *
     * @param vNew           (B, T) value predictions of the value model being trained, with a graph
     * @param vOld           (B, T) value predictions recorded at rollout; detached here
     * @param returns        (B, T) GAE returns R_t; detached here
     * @param mask           (B, T) 1 for the positions that count
     * @param clipRangeValue ε_v &gt; 0 (TRL {@code cliprange_value}, default 0.2)
     */
    public static Value value(Tensor vNew, Tensor vOld, Tensor returns, Tensor mask, double clipRangeValue) {
        checkShapes("value", vNew, vOld, returns, mask);
        checkPositive("--cliprange-value", clipRangeValue);
        Tensor m = Masked.like(mask, vNew);
        Tensor on = m.gt(s(0.0));
        Tensor v = torch.where(on, vNew, s(0.0));
        Tensor old = torch.where(on, vOld.detach().to(vNew.scalar_type()), s(0.0));
        Tensor r = torch.where(on, returns.detach().to(vNew.scalar_type()), s(0.0));
        Tensor vClipped = v.clamp(new TensorOptional(old.sub(s(clipRangeValue))),
                new TensorOptional(old.add(s(clipRangeValue))));
        Tensor unclipped = v.sub(r).square();
        Tensor clipped = vClipped.sub(r).square();
        Tensor loss = Masked.mean(unclipped.max(clipped), m).mul(s(0.5));
        Tensor clipFrac = Masked.mean(clipped.detach().gt(unclipped.detach()).to(m.scalar_type()), m);
        return new Value(loss, clipFrac);
    }

    /**
     * The mean probability ratio over response tokens, masked_mean(exp(log π_θ − log π_old)) (TRL's logged
     * {@code val/ratio}); detached.
     *
     * @param logpNew (B, T) log-probs under the policy being trained
     * @param logpOld (B, T) log-probs under the sampling policy
     * @param mask    (B, T) 1 for response tokens
     */
    public static Tensor meanRatio(Tensor logpNew, Tensor logpOld, Tensor mask) {
        return Masked.mean(logpNew.detach().sub(logpOld).exp(), mask);
    }

    static void checkPositive(String option, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(option + " must be a finite number > 0, got " + value);
        }
    }

    private static void checkShapes(String what, Tensor... ts) {
        long[] shape = Tensors.shape(ts[0]);
        for (Tensor t : ts) {
            if (t.dim() != 2 || !Arrays.equals(shape, Tensors.shape(t))) {
                StringBuilder b = new StringBuilder();
                for (Tensor u : ts) {
                    b.append(b.length() == 0 ? "" : ", ").append(Arrays.toString(Tensors.shape(u)));
                }
                throw new IllegalArgumentException("PPO " + what + " loss needs four (B, T) tensors of one shape, got "
                        + b);
            }
        }
    }
}
