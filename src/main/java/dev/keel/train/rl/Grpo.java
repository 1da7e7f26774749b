package dev.keel.train.rl;

import java.util.Optional;
import java.util.OptionalDouble;

import org.bytedeco.pytorch.Tensor;

import dev.keel.loss.Grpo.LossType;
import dev.keel.loss.Grpo.ScaleRewards;
import dev.keel.tensor.Tensors;

/**
 * Group relative policy optimisation (Shao et al. 2024; TRL's GRPOTrainer; docs/ALGORITHMS.md §5.2): k samples
 * per prompt, group-normalised scores as advantages, a token-level clipped ratio with β·k3 to the reference in
 * the loss; no value model.
 *
 * @param numGenerations           k, samples per prompt (at least 2)
 * @param lossType                 how per-token losses are aggregated (TRL {@code loss_type}, default dapo)
 * @param scaleRewards             what centred scores are divided by (TRL {@code scale_rewards}, default group)
 * @param epsilonHigh              the upper clip bound ε_high (clip-higher); empty: ε, the lower one
 * @param maskTruncatedCompletions leave completions cut by the length limit out of the loss (they still count
 *                                 in their group's advantages), as TRL's {@code mask_truncated_completions}
 */
public record Grpo(int numGenerations, LossType lossType, ScaleRewards scaleRewards, OptionalDouble epsilonHigh,
                   boolean maskTruncatedCompletions) implements RlAlgorithm<SequenceAdvantages> {
    public Grpo {
        if (numGenerations < 2) {
            throw new IllegalArgumentException("GRPO needs --num-generations of at least 2, got " + numGenerations);
        }
        if (lossType == null || scaleRewards == null || epsilonHigh == null) {
            throw new IllegalArgumentException("GRPO needs a loss type, a reward scaling and an ε_high (or none)");
        }
        if (epsilonHigh.isPresent() && (!(epsilonHigh.getAsDouble() > 0) || Double.isInfinite(epsilonHigh.getAsDouble()))) {
            throw new IllegalArgumentException("--epsilon-high must be > 0, got " + epsilonHigh.getAsDouble());
        }
    }

    /** k samples per prompt with TRL's defaults: dapo, group scaling, symmetric clipping, truncated kept. */
    public static Grpo of(int numGenerations) {
        return new Grpo(numGenerations, LossType.DAPO, ScaleRewards.GROUP, OptionalDouble.empty(), false);
    }

    @Override
    public String name() {
        return "grpo";
    }

    @Override
    public int samplesPerPrompt() {
        return numGenerations;
    }

    @Override
    public SequenceAdvantages targets(Scored r, Critic critic, double klCoef) {
        return targets(r, critic, klCoef, m -> m);
    }

    /**
     * Group-normalised advantages (groups stay on one rank); with {@code scale_rewards=batch} the std of the whole
     * batch's scores, their moments summed over the ranks by {@code sumOverRanks}.
     */
    @Override
    public SequenceAdvantages targets(Scored r, Critic critic, double klCoef,
                                      java.util.function.UnaryOperator<double[]> sumOverRanks) {
        double[] moments = scaleRewards == ScaleRewards.BATCH
                ? sumOverRanks.apply(dev.keel.loss.Masked.moments(r.score(), org.bytedeco.pytorch.global.torch.ones_like(r.score())))
                : null;
        return new SequenceAdvantages(dev.keel.loss.Grpo.advantages(r.score(), numGenerations, scaleRewards, moments));
    }

    /**
     * Data-parallel except with {@code --mask-truncated-completions} under a token mean (the ranks would need the
     * masked token counts, which Keel does not exchange yet).
     */
    @Override
    public boolean dataParallel() {
        return !(maskTruncatedCompletions && lossMean() == LossMean.TOKENS);
    }

    /** bnpo and dapo divide by the minibatch's tokens; grpo averages sequences, dr_grpo divides by B · max length. */
    @Override
    public LossMean lossMean() {
        return lossType == LossType.BNPO || lossType == LossType.DAPO ? LossMean.TOKENS : LossMean.SEQUENCES;
    }

    @Override
    public SequenceAdvantages select(SequenceAdvantages t, Tensor index) {
        return t.select(index);
    }

    @Override
    public StepLoss loss(Minibatch mb, SequenceAdvantages t, Critic critic, double klCoef, RlConfig cfg) {
        Tensor mask = mb.mask();
        if (maskTruncatedCompletions) {
            float[] ended = new float[mb.rollout().endedWithEos.length];
            for (int i = 0; i < ended.length; i++) {
                ended[i] = mb.rollout().endedWithEos[i] ? 1 : 0;
            }
            mask = mask.mul(Tensors.floats(ended, ended.length, 1).to(mask.device(), mask.scalar_type()));
        }
        double eps = cfg.updates().clipRange();
        dev.keel.loss.Grpo.Result gr = dev.keel.loss.Grpo.loss(mb.logpNew(), mb.logpOld(), mb.logpRef(),
                t.advantages(), mask, eps, epsilonHigh.orElse(eps), klCoef, lossType, cfg.sampling().maxNewTokens());
        Tensor approxKl = dev.keel.loss.Grpo.approxKl(mb.logpNew(), mb.logpOld(), mask);
        return new StepLoss(gr.loss(), gr.loss(), gr.clipFrac(), approxKl, Optional.empty());
    }
}
