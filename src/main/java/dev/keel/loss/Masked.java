package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.Arrays;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Statistics over the entries a mask selects, as TRL's {@code masked_mean}, {@code masked_var} and
 * {@code masked_whiten} (trl/experimental/ppo/ppo_trainer.py, formerly trl/core.py). Used for PPO's losses and
 * for whitening advantages over the real response tokens of a batch (docs/ALGORITHMS.md §4.4; Huang et al., "The N
 * Implementation Details of RLHF with PPO", details on advantage whitening).
 *
 * <p>{@code x} is typically (B, T) and {@code mask} (B, T) of any dtype, 1 for real response tokens and 0 for
 * padding; a mask that broadcasts against {@code x} also works. Every statistic is over the whole batch (a
 * 0-dim tensor), not per row. As in TRL the mask multiplies {@code x}, so entries under a 0 must be finite
 * (0 · ∞ is NaN); TRL fills them with 1.0 ({@code INVALID_LOGPROB}) or 0 for that reason.
 *
 * <p>None of these detach: the result keeps whatever graph {@code x} has.
 */
public final class Masked {
    /** Added to the variance before the reciprocal square root in {@link #whiten}, as TRL does. */
    public static final double WHITEN_EPS = 1e-8;

    private Masked() {}

    /**
     * Mean over the selected entries, TRL {@code masked_mean}: Σ(x · m) / Σ m.
     *
     * @param x    values, e.g. (B, T)
     * @param mask same shape (or broadcastable), 1 where the entry counts
     * @return 0-dim tensor; NaN when the mask selects nothing (0 / 0), as in TRL
     */
    public static Tensor mean(Tensor x, Tensor mask) {
        Tensor m = like(mask, x);
        return x.mul(m).sum().div(m.sum());
    }

    /**
     * Variance over the selected entries, TRL {@code masked_var}: the mean of (x − μ)² over the mask, times
     * n / (n − 1) (Bessel's correction, n = Σ m) when {@code unbiased}. TRL's default is unbiased, and
     * {@code masked_whiten} uses the default.
     *
     * @param x        values, e.g. (B, T)
     * @param mask     same shape (or broadcastable), 1 where the entry counts
     * @param unbiased whether to apply Bessel's correction
     * @return 0-dim tensor
     * @throws IllegalArgumentException when the mask selects nothing, or only one entry with {@code unbiased}
     *                                  (TRL raises for n = 0 and divides by zero for n = 1)
     */
    public static Tensor var(Tensor x, Tensor mask, boolean unbiased) {
        Tensor m = like(mask, x);
        double n = Tensors.item(m.sum());
        if (n == 0 || (unbiased && n <= 1)) {
            throw new IllegalArgumentException("masked variance needs at least " + (unbiased ? 2 : 1)
                    + " selected entries, the mask selects " + n + " of shape " + Arrays.toString(Tensors.shape(x))
                    + "; use a larger (mini)batch");
        }
        Tensor mu = x.mul(m).sum().div(s(n));
        Tensor variance = x.sub(mu).square().mul(m).sum().div(s(n));
        return unbiased ? variance.mul(s(n / (n - 1))) : variance;
    }

    /**
     * Whitening over the selected entries, TRL {@code masked_whiten}: (x − μ) · rsqrt(σ² + 1e-8), with μ the
     * masked mean and σ² the unbiased masked variance; with {@code shiftMean} false the mean is added back,
     * (x − μ) · rsqrt(σ² + 1e-8) + μ, which rescales without centring (TRL's reward whitening).
     *
     * <p>Every entry is transformed, the masked-out ones too (they only take no part in μ and σ²); TRL zeroes
     * them afterwards with {@code masked_fill}, and a caller that needs that multiplies by the mask.
     *
     * @param x         values, e.g. (B, T) advantages
     * @param mask      same shape (or broadcastable), 1 where the entry counts
     * @param shiftMean true to centre (TRL's default, used for advantages), false to keep the mean
     * @return same shape as {@code x}
     * @throws IllegalArgumentException when the mask selects fewer than two entries
     */
    public static Tensor whiten(Tensor x, Tensor mask, boolean shiftMean) {
        Tensor mu = mean(x, mask);
        Tensor variance = var(x, mask, true);
        Tensor whitened = x.sub(mu).mul(variance.add(s(WHITEN_EPS)).rsqrt());
        return shiftMean ? whitened : whitened.add(mu);
    }

    /**
     * The sums masked mean and variance are made of, in float64: {n = Σ m, Σ x·m, Σ x²·m}. They add up over the
     * ranks of a data-parallel run (each rank sums its own rows), which μ and σ² do not; see
     * {@link #whiten(Tensor, double[], boolean)}.
     */
    public static double[] moments(Tensor x, Tensor mask) {
        Tensor m = like(mask, x).to(ScalarType.Double);
        Tensor xd = x.to(ScalarType.Double).mul(m);
        return new double[] {Tensors.item(m.sum()), Tensors.item(xd.sum()), Tensors.item(xd.mul(x.to(ScalarType.Double)).sum())};
    }

    /**
     * {@link #whiten(Tensor, Tensor, boolean)} with μ and σ² from {@link #moments} summed over a whole batch that
     * may span several ranks: μ = Σx / n, σ² = (Σx² − n·μ²) / (n − 1) (unbiased, as TRL's {@code masked_whiten}),
     * then (x − μ) · rsqrt(σ² + 1e-8), plus μ when {@code shiftMean} is false.
     *
     * @param moments {n, Σx, Σx²} over every selected entry of the batch
     * @throws IllegalArgumentException when fewer than two entries are selected
     */
    public static Tensor whiten(Tensor x, double[] moments, boolean shiftMean) {
        double mu = moments[1] / moments[0];
        double variance = variance(moments);
        Tensor whitened = x.sub(s(mu)).mul(s(1 / Math.sqrt(variance + WHITEN_EPS)));
        return shiftMean ? whitened : whitened.add(s(mu));
    }

    /**
     * The unbiased standard deviation from {@link #moments} summed over a whole batch (which may span ranks), as
     * {@code Tensor.std()} computes it over the batch: the square root of {@link #variance}.
     *
     * @param moments {n, Σx, Σx²}
     */
    public static double std(double[] moments) {
        return Math.sqrt(variance(moments));
    }

    /**
     * The unbiased variance from {@link #moments}: (Σx² − n·μ²) / (n − 1), μ = Σx / n.
     *
     * @throws IllegalArgumentException when fewer than two entries are selected
     */
    public static double variance(double[] moments) {
        double n = moments[0];
        if (n <= 1) {
            throw new IllegalArgumentException("masked variance needs at least 2 selected entries, the mask selects "
                    + n + "; use a larger (mini)batch");
        }
        double mu = moments[1] / n;
        return Math.max(0, moments[2] - n * mu * mu) / (n - 1);
    }

    /** {@code mask} in the dtype of {@code x}, so that integer and boolean masks multiply float values. */
    static Tensor like(Tensor mask, Tensor x) {
        return mask.scalar_type() == x.scalar_type() ? mask : mask.to(x.scalar_type());
    }
}
