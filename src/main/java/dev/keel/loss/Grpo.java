package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import java.util.Arrays;

import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.tensor.Tensors;

/**
 * Group relative policy optimisation, Shao et al. 2024 ("DeepSeekMath", §4.1: Eq. 3 the objective, Eq. 4 the
 * k3 KL estimator, §4.1.2 the outcome-supervision advantages), as TRL's {@code GRPOTrainer} (trl/trainer/grpo_trainer.py) computes
 * it with its defaults (docs/ALGORITHMS.md §5.2): k samples per prompt, the advantage of each the group-normalised
 * score, and a PPO-clipped per-token objective with a k3 KL penalty towards the reference added to the loss
 * (not to the reward).
 */
public final class Grpo {
    /** Added to the group standard deviation, as TRL does ({@code std_rewards + 1e-4}). */
    public static final double STD_EPS = 1e-4;

    private Grpo() {}

    /**
     * How the per-token losses of a batch become one number (TRL's {@code loss_type}).
     * <ul>
     * <li>{@code GRPO}: each sequence's token mean, then the mean over sequences (Shao et al. 2024, Eq. 3; longer
     *     sequences weigh less per token);</li>
     * <li>{@code BNPO}: Σ m·ℓ / max(1, Σ m), the batch's token mean;</li>
     * <li>{@code DR_GRPO}: Σ m·ℓ / (B · max_completion_length), a constant normaliser (Liu et al. 2025, "Understanding
     *     R1-Zero-Like Training", §3: no length bias);</li>
     * <li>{@code DAPO}: Σ m·ℓ / the active tokens of the accumulated batch (Yu et al. 2025), TRL's default; Keel takes
     *     one optimizer step per minibatch, so it is the minibatch's token count (at least 1).</li>
     * </ul>
     */
    public enum LossType {
        GRPO, BNPO, DR_GRPO, DAPO;

        /** TRL's spelling: grpo, bnpo, dr_grpo, dapo. */
        public static LossType parse(String s) {
            for (LossType t : values()) {
                if (t.name().equalsIgnoreCase(s)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("--loss-type must be grpo, bnpo, dr_grpo or dapo, got '" + s + "'");
        }
    }

    /**
     * What the centred scores are divided by (TRL's {@code scale_rewards}): the group's standard deviation, the
     * whole batch's, or nothing (Liu et al. 2025 argue the division biases towards too easy and too hard prompts).
     */
    public enum ScaleRewards {
        GROUP, BATCH, NONE;

        /** TRL's spelling: group, batch, none. */
        public static ScaleRewards parse(String s) {
            for (ScaleRewards t : values()) {
                if (t.name().equalsIgnoreCase(s)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("--scale-rewards must be group, batch or none, got '" + s + "'");
        }
    }

    /**
     * @param loss     0-dim loss with the graph back to {@code logpNew}
     * @param clipFrac 0-dim fraction of response tokens whose ratio is clipped on the side the advantage
     *                 pushes (TRL {@code clip_ratio/region_mean}); detached
     * @param kl       0-dim token mean of the k3 KL of the policy against the reference (TRL {@code kl});
     *                 detached; null when no reference log-probs were given
     */
    public record Result(Tensor loss, Tensor clipFrac, Tensor kl) {}

    /**
     * Group-normalised advantages, Shao et al. 2024 §4.1.2: A_i = (s_i − mean_group) / (std_group + 1e-4), with
     * TRL's default {@code scale_rewards="group"}: {@code rewards.view(-1, G).std(dim=1)}, torch's default
     * unbiased standard deviation (divisor k − 1). A group whose k scores are all equal gets advantages 0.
     *
     * @param scores (N·k) scores laid out prompt-major: the k samples of prompt 0, then prompt 1's, …
     * @param k      samples per prompt (TRL {@code num_generations}), at least 2
     * @return (N·k) advantages, detached
     * @throws IllegalArgumentException when k &lt; 2, or scores is not 1-D with a multiple of k entries
     */
    public static Tensor advantages(Tensor scores, int k) {
        return advantages(scores, k, ScaleRewards.GROUP);
    }

    /**
     * Advantages as TRL's {@code GRPOTrainer} computes them for each {@code scale_rewards}: the score minus its
     * group's mean, divided by std + 1e-4 where std is the group's ({@code GROUP}, {@code rewards.view(-1, G).std(1)})
     * or the whole batch's ({@code BATCH}, {@code rewards.std()}), both unbiased; {@code NONE} leaves the centred
     * score as it is.
     *
     * @param scores (N·k) scores, prompt-major
     * @return (N·k) advantages, detached
     */
    public static Tensor advantages(Tensor scores, int k, ScaleRewards scale) {
        return advantages(scores, k, scale, null);
    }

    /**
     * {@link #advantages(Tensor, int, ScaleRewards)} with the batch's std ({@code BATCH}) from
     * {@link Masked#moments} summed over a whole batch that may span the ranks of a data-parallel run (each rank
     * holds whole groups); null: this batch's own.
     *
     * @param batchMoments {n, Σs, Σs²} over the whole batch's scores, or null
     */
    public static Tensor advantages(Tensor scores, int k, ScaleRewards scale, double[] batchMoments) {
        Tensor g = Rloo.grouped(scores, k, "GRPO");                                   // (N, k)
        Tensor mean = g.mean(new long[] {1}, true, new ScalarTypeOptional());         // (N, 1)
        Tensor centred = g.sub(mean);                                                 // (N, k)
        Tensor out = switch (scale) {
            case GROUP -> centred.div(g.std(new long[] {1}, true, true).add(s(STD_EPS)));  // (N, 1) unbiased
            case BATCH -> batchMoments == null ? centred.div(g.std(true).add(s(STD_EPS)))   // 0-dim, unbiased
                    : centred.div(s(Masked.std(batchMoments) + STD_EPS));
            case NONE -> centred;
        };
        return out.reshape(-1);
    }

    /**
     * The GRPO loss of one batch, averaged over its response tokens:
     * <pre>
     *   ρ_t = exp(log π_θ(y_t) − log π_old(y_t))
     *   ℓ_t = −min(ρ_t A, clip(ρ_t, 1 − ε, 1 + ε) A) + β · k3_t,   k3_t = (e^{−l_t} − 1) + l_t,
     *         l_t = log π_θ(y_t) − log π_ref(y_t)
     *   loss = Σ_{i,t} m_{i,t} ℓ_{i,t} / max(1, Σ_{i,t} m_{i,t})
     * </pre>
     * The aggregation is TRL's default {@code loss_type="dapo"}: a token-level mean, Σ m·ℓ divided by the active
     * tokens (TRL divides by those of the whole accumulated batch, {@code num_items_in_batch}; within one batch
     * that is the same as {@code "bnpo"}). Shao et al. instead average each sequence over its own length and then
     * over sequences (TRL's {@code "grpo"}), which TRL no longer recommends for its length bias; with
     * gradient accumulation use {@link #loss(Tensor, Tensor, Tensor, Tensor, Tensor, double, double, double)} to
     * divide by the tokens of the accumulated batch. The KL term uses the current policy's log-probs (with
     * their graph), as TRL's {@code per_token_kl}.
     *
     * @param logpNew    (B, T) log-probs of the sampled tokens under the policy being trained, with a graph
     * @param logpOld    (B, T) the same under the sampling policy; detached here (with one update per rollout,
     *                   TRL's default {@code num_iterations=1}, it equals {@code logpNew} and ρ = 1)
     * @param logpRef    (B, T) the same under the reference; may be null only when β = 0 (TRL's default β = 0
     *                   loads no reference)
     * @param advantages (B) one advantage per sequence ({@link #advantages}); detached here
     * @param mask       (B, T) 1 for response tokens
     * @param clipRange  ε &gt; 0 (TRL {@code epsilon}, default 0.2; the same bound above and below)
     * @param beta       β ≥ 0, the KL coefficient
     * @throws IllegalArgumentException on mismatched shapes, an invalid ε or β, or β &gt; 0 without reference
     */
    public static Result loss(Tensor logpNew, Tensor logpOld, Tensor logpRef, Tensor advantages, Tensor mask,
            double clipRange, double beta) {
        check(logpNew, logpOld, logpRef, advantages, mask, clipRange, beta);
        return compute(logpNew, logpOld, logpRef, advantages, mask, clipRange, clipRange, beta,
                (l, m) -> aggregate(l, m, LossType.BNPO, 1));
    }

    /**
     * The GRPO loss as TRL's {@code _compute_loss} computes it for each {@code loss_type}, with clip-higher
     * (Yu et al. 2025, DAPO §3.1): ρ is clipped to [1 − ε_low, 1 + ε_high] (TRL {@code epsilon},
     * {@code epsilon_high}); the per-token loss is that of {@link #loss(Tensor, Tensor, Tensor, Tensor, Tensor,
     * double, double)}, aggregated by {@link #aggregate}.
     *
     * @param epsLow              ε_low &gt; 0
     * @param epsHigh             ε_high &gt; 0 (TRL: ε_low when unset)
     * @param maxCompletionLength the sampling limit, DR_GRPO's normaliser
     */
    public static Result loss(Tensor logpNew, Tensor logpOld, Tensor logpRef, Tensor advantages, Tensor mask,
            double epsLow, double epsHigh, double beta, LossType type, int maxCompletionLength) {
        check(logpNew, logpOld, logpRef, advantages, mask, epsLow, beta);
        PpoLoss.checkPositive("--epsilon-high", epsHigh);
        if (maxCompletionLength < 1) {
            throw new IllegalArgumentException("GRPO max completion length must be >= 1, got " + maxCompletionLength);
        }
        return compute(logpNew, logpOld, logpRef, advantages, mask, epsLow, epsHigh, beta,
                (l, m) -> aggregate(l, m, type, maxCompletionLength));
    }

    /**
     * One number from per-token losses, as TRL's {@code loss_type} (see {@link LossType}):
     * <pre>
     *   GRPO:    mean_i( Σ_t m ℓ / max(1, Σ_t m) )
     *   BNPO:    Σ m ℓ / max(1, Σ m)
     *   DR_GRPO: Σ m ℓ / (B · maxCompletionLength)
     *   DAPO:    Σ m ℓ / max(1, Σ m)       (one minibatch per optimizer step: the accumulated batch is this one)
     * </pre>
     *
     * @param perToken (B, T) per-token losses
     * @param mask     (B, T) 1 for the tokens that count
     */
    public static Tensor aggregate(Tensor perToken, Tensor mask, LossType type, int maxCompletionLength) {
        Tensor lm = perToken.mul(mask);                                               // (B, T)
        return switch (type) {
            case GRPO -> lm.sum(new long[] {1}, false, new ScalarTypeOptional())
                    .div(mask.sum(new long[] {1}, false, new ScalarTypeOptional()).clamp_min(s(1.0))).mean();
            case BNPO, DAPO -> lm.sum().div(mask.sum().clamp_min(s(1.0)));
            case DR_GRPO -> lm.sum().div(s((double) perToken.size(0) * maxCompletionLength));
        };
    }

    /**
     * {@link #loss(Tensor, Tensor, Tensor, Tensor, Tensor, double, double)} divided by a given token count
     * instead of this batch's: Σ m·ℓ / tokenCount, TRL's {@code "dapo"} normaliser {@code num_items_in_batch}
     * (the response tokens of all micro-batches of one optimizer step), so that the micro-batch losses add up
     * to the token mean of the accumulated batch. The diagnostics stay means over this batch.
     *
     * @param tokenCount the number of response tokens of the accumulated batch, &gt; 0
     */
    public static Result loss(Tensor logpNew, Tensor logpOld, Tensor logpRef, Tensor advantages, Tensor mask,
            double clipRange, double beta, double tokenCount) {
        check(logpNew, logpOld, logpRef, advantages, mask, clipRange, beta);
        if (!(tokenCount > 0) || Double.isInfinite(tokenCount)) {
            throw new IllegalArgumentException("GRPO token count must be a finite number > 0, got " + tokenCount);
        }
        return compute(logpNew, logpOld, logpRef, advantages, mask, clipRange, clipRange, beta,
                (l, m) -> l.mul(m).sum().div(s(tokenCount)));
    }

    private static Result compute(Tensor logpNew, Tensor logpOld, Tensor logpRef, Tensor advantages, Tensor mask,
            double epsLow, double epsHigh, double beta, java.util.function.BinaryOperator<Tensor> aggregate) {
        Tensor m = Masked.like(mask, logpNew);                                        // (B, T)
        Tensor on = m.gt(s(0.0));
        Tensor ratio = torch.where(on, logpNew.sub(logpOld.detach()), s(0.0)).exp(); // (B, T), 1 at padding
        Tensor a = advantages.detach().to(logpNew.scalar_type()).unsqueeze(1);       // (B, 1)
        Tensor unclipped = ratio.mul(a);                                              // ρ A
        Tensor clipped = ratio.clamp(new ScalarOptional(s(1 - epsLow)), new ScalarOptional(s(1 + epsHigh)))
                .mul(a);                                                              // clip(ρ) A
        Tensor perToken = unclipped.min(clipped).neg();                               // (B, T)
        Tensor kl = null;
        if (logpRef != null) {
            Tensor k3 = KlEstimator.K3.perToken(torch.where(on, logpNew, s(0.0)),
                    torch.where(on, logpRef.detach().to(logpNew.scalar_type()), s(0.0))); // (B, T), 0 at padding
            if (beta != 0) {
                perToken = perToken.add(k3.mul(s(beta)));
            }
            kl = Masked.mean(k3.detach(), m);
        }
        Tensor loss = aggregate.apply(perToken, m);
        Tensor r = ratio.detach();
        Tensor ad = a.expand_as(r);
        Tensor low = r.lt(s(1 - epsLow)).logical_and(ad.lt(s(0.0)));                // clipped below, A < 0
        Tensor high = r.gt(s(1 + epsHigh)).logical_and(ad.gt(s(0.0)));              // clipped above, A > 0
        Tensor clipFrac = Masked.mean(low.logical_or(high).to(r.scalar_type()), m);
        return new Result(loss, clipFrac, kl);
    }

    private static void check(Tensor logpNew, Tensor logpOld, Tensor logpRef, Tensor advantages, Tensor mask,
            double clipRange, double beta) {
        long[] shape = Tensors.shape(logpNew);
        boolean ok = shape.length == 2 && Arrays.equals(shape, Tensors.shape(logpOld))
                && Arrays.equals(shape, Tensors.shape(mask))
                && (logpRef == null || Arrays.equals(shape, Tensors.shape(logpRef)))
                && advantages.dim() == 1 && advantages.size(0) == shape[0];
        if (!ok) {
            throw new IllegalArgumentException("GRPO loss needs log-probs and mask (B, T) and advantages (B), got "
                    + Arrays.toString(shape) + ", " + Arrays.toString(Tensors.shape(logpOld)) + ", "
                    + (logpRef == null ? "null" : Arrays.toString(Tensors.shape(logpRef))) + ", "
                    + Arrays.toString(Tensors.shape(advantages)) + ", " + Arrays.toString(Tensors.shape(mask)));
        }
        PpoLoss.checkPositive("--cliprange", clipRange);
        if (!(beta >= 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("--kl-coef must be a finite number >= 0, got " + beta);
        }
        if (beta > 0 && logpRef == null) {
            throw new IllegalArgumentException("GRPO with --kl-coef " + beta + " > 0 needs the reference log-probs");
        }
    }

    /**
     * GRPO's logged approximate KL to the sampling policy, defined as PPO's: ½ · masked_mean((log π_θ −
     * log π_old)²) over the response tokens (docs/ALGORITHMS.md §4.5). Unlike {@link PpoLoss#policy}, the mean
     * is over response tokens only.
     *
     * @param logpNew (B, T) token log-probs under the policy being trained (detached here)
     * @param logpOld (B, T) the same under the sampling policy
     * @param mask    (B, T) 1 for response tokens
     * @return 0-dim tensor
     */
    public static Tensor approxKl(Tensor logpNew, Tensor logpOld, Tensor mask) {
        Tensor m = Masked.like(mask, logpNew);
        Tensor d = logpNew.detach().sub(logpOld).mul(m);
        return Masked.mean(d.mul(d), m).mul(s(0.5));
    }
}
