package dev.keel.train.rl;

import java.util.Optional;

import org.bytedeco.pytorch.Tensor;

/**
 * Group relative policy optimisation (Shao et al. 2024; TRL's GRPOTrainer; docs/ALGORITHMS.md §5): k samples
 * per prompt, group-normalised scores as advantages, a token-level clipped ratio with β·k3 to the reference in
 * the loss; no value model.
 *
 * @param numGenerations k, samples per prompt (at least 2)
 */
public record Grpo(int numGenerations) implements RlAlgorithm<SequenceAdvantages> {
    public Grpo {
        if (numGenerations < 2) {
            throw new IllegalArgumentException("GRPO needs --num-generations of at least 2, got " + numGenerations);
        }
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
        return new SequenceAdvantages(dev.keel.loss.Grpo.advantages(r.score(), numGenerations));
    }

    @Override
    public SequenceAdvantages select(SequenceAdvantages t, Tensor index) {
        return t.select(index);
    }

    @Override
    public StepLoss loss(Minibatch mb, SequenceAdvantages t, Critic critic, double klCoef, double clipRange) {
        dev.keel.loss.Grpo.Result gr = dev.keel.loss.Grpo.loss(mb.logpNew(), mb.logpOld(), mb.logpRef(),
                t.advantages(), mb.mask(), clipRange, klCoef);
        Tensor approxKl = dev.keel.loss.Grpo.approxKl(mb.logpNew(), mb.logpOld(), mb.mask());
        return new StepLoss(gr.loss(), gr.loss(), gr.clipFrac(), approxKl, Optional.empty());
    }
}
