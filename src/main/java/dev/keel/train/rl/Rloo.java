package dev.keel.train.rl;

import java.util.Optional;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.loss.PpoLoss;

/**
 * REINFORCE leave-one-out (Ahmadian et al. 2024; TRL's RLOOTrainer; docs/ALGORITHMS.md §5): k samples per
 * prompt, the score minus β·Σ kl as the sequence reward, the others' mean as each sample's baseline, and a
 * sequence-level clipped ratio; no value model.
 *
 * @param numGenerations       k, samples per prompt (at least 2)
 * @param normalizeAdvantages  standardise the advantages over the batch (TRL {@code normalize_advantages}, off)
 */
public record Rloo(int numGenerations, boolean normalizeAdvantages) implements RlAlgorithm<SequenceAdvantages> {
    public Rloo {
        if (numGenerations < 2) {
            throw new IllegalArgumentException("RLOO needs --num-generations of at least 2, got " + numGenerations);
        }
    }

    /** k samples per prompt with TRL's defaults (advantages not normalised). */
    public static Rloo of(int numGenerations) {
        return new Rloo(numGenerations, false);
    }

    @Override
    public String name() {
        return "rloo";
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
     * Leave-one-out advantages per prompt group (groups stay on one rank); normalised, when asked, with the mean and
     * std of the whole batch's advantages ({@code sumOverRanks} sums their moments over the ranks).
     */
    @Override
    public SequenceAdvantages targets(Scored r, Critic critic, double klCoef,
                                      java.util.function.UnaryOperator<double[]> sumOverRanks) {
        Tensor reward = dev.keel.loss.Rloo.sequenceReward(r.score(), r.kl(), r.mask(), klCoef);
        Tensor a = dev.keel.loss.Rloo.advantages(reward, numGenerations);
        if (!normalizeAdvantages) {
            return new SequenceAdvantages(a);
        }
        double[] moments = sumOverRanks.apply(dev.keel.loss.Masked.moments(a, torch.ones_like(a)));
        return new SequenceAdvantages(dev.keel.loss.Rloo.normalize(a, moments));
    }

    /** RLOO's loss is a mean over sequences (its ratio is per sequence): ranks weigh by their rows. */
    @Override
    public boolean dataParallel() {
        return true;
    }

    @Override
    public LossMean lossMean() {
        return LossMean.SEQUENCES;
    }

    @Override
    public SequenceAdvantages select(SequenceAdvantages t, Tensor index) {
        return t.select(index);
    }

    @Override
    public StepLoss loss(Minibatch mb, SequenceAdvantages t, Critic critic, double klCoef, RlConfig cfg) {
        PpoLoss.Policy pg = dev.keel.loss.Rloo.policyLoss(mb.logpNew(), mb.logpOld(), t.advantages(), mb.mask(),
                cfg.updates().clipRange());
        return new StepLoss(pg.loss(), pg.loss(), pg.clipFrac(), pg.approxKl(), Optional.empty());
    }
}
