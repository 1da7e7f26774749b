package dev.keel.train.rl;

import java.util.Optional;
import java.util.OptionalDouble;

import dev.keel.loss.KlEstimator;

/**
 * Settings of the reward-based trainers (docs/ALGORITHMS.md §4, §5), in small records with the defaults of
 * TRL's PPO where it has one (GRPO shares them: TRL's GRPO samples at temperature 1.0 with β = 0). Start from {@link #defaults} and change what differs with the withers:
 * <pre>
 *   RlConfig.defaults(Ppo.defaults()).withSampling(s -&gt; s.withIterations(200)).withKl(k -&gt; k.withCoef(0.1))
 * </pre>
 *
 * @param algorithm PPO, RLOO or GRPO with its own settings
 * @param sampling  how rollouts are drawn
 * @param updates   how each rollout is learned from
 * @param kl        the KL penalty towards the reference
 * @param scores    how the reward's scores are shaped before use
 * @param seed      seeds prompt order, sampling, minibatch order and libtorch's generator
 */
public record RlConfig(RlAlgorithm<?> algorithm, Sampling sampling, Updates updates, KlPenalty kl, Scores scores,
                       long seed) {
    public RlConfig {
        if (algorithm == null || sampling == null || updates == null || kl == null || scores == null) {
            throw new IllegalArgumentException("every part of the RL settings is required");
        }
        if ((long) sampling.batchPrompts() * algorithm.samplesPerPrompt() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--batch-size " + sampling.batchPrompts() + " x --num-generations "
                    + algorithm.samplesPerPrompt() + " sequences per rollout is more than 2^31 - 1");
        }
        if (algorithm.needsWholeRollout() && updates.miniBatchSize() > 0
                && updates.miniBatchSize() != sampling.batchPrompts() * algorithm.samplesPerPrompt()) {
            throw new IllegalArgumentException(algorithm.name() + " takes each rollout as one batch: leave out "
                    + "--mini-batch-size (got " + updates.miniBatchSize() + ")");
        }
    }

    /**
     * The whole rollout of a data-parallel run of {@code ranks} ranks whose --batch-size and --mini-batch-size are
     * per rank: both times {@code ranks} (the whole rollout stays the whole rollout).
     */
    public RlConfig forRanks(int ranks) {
        Sampling s = sampling.withBatchPrompts(sampling.batchPrompts() * ranks);
        Updates u = updates.withMiniBatchSize(updates.miniBatchSize() * ranks);
        return new RlConfig(algorithm, s, u, kl, scores, seed);
    }

    /** {@code algorithm} with every other setting at its default and seed 42. */
    public static RlConfig defaults(RlAlgorithm<?> algorithm) {
        return new RlConfig(algorithm, Sampling.defaults(), Updates.defaults(), KlPenalty.defaults(),
                Scores.defaults(), 42);
    }

    /**
     * @param iterations   rollout-and-update rounds
     * @param batchPrompts prompts per rollout (each sampled {@link RlAlgorithm#samplesPerPrompt} times)
     * @param maxNewTokens response length limit (TRL's {@code response_length})
     * @param temperature  sampling temperature; log-probs are computed with logits / T too
     */
    public record Sampling(int iterations, int batchPrompts, int maxNewTokens, double temperature) {
        public Sampling {
            if (iterations < 1 || batchPrompts < 1 || maxNewTokens < 1) {
                throw new IllegalArgumentException("--iterations, --batch-size and --max-new-tokens must be at least 1");
            }
            if (!(temperature > 0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("--temperature must be > 0 for RL sampling, got " + temperature);
            }
        }

        /** 100 iterations of 16 prompts, 24 new tokens at temperature 0.7 (TRL's). */
        public static Sampling defaults() {
            return new Sampling(100, 16, 24, 0.7);
        }

        public Sampling withIterations(int n) {
            return new Sampling(n, batchPrompts, maxNewTokens, temperature);
        }

        public Sampling withBatchPrompts(int n) {
            return new Sampling(iterations, n, maxNewTokens, temperature);
        }

        public Sampling withMaxNewTokens(int n) {
            return new Sampling(iterations, batchPrompts, n, temperature);
        }

        public Sampling withTemperature(double t) {
            return new Sampling(iterations, batchPrompts, maxNewTokens, t);
        }
    }

    /**
     * @param epochs        passes over each rollout (TRL's {@code num_ppo_epochs}; GRPO's {@code num_iterations})
     * @param miniBatchSize sequences per gradient step; 0 means the whole rollout
     * @param clipRange     ε of the clipped policy objective (TRL's {@code cliprange}; GRPO's {@code epsilon})
     */
    public record Updates(int epochs, int miniBatchSize, double clipRange) {
        public Updates {
            if (epochs < 1) {
                throw new IllegalArgumentException("--num-ppo-epochs must be at least 1, got " + epochs);
            }
            if (miniBatchSize < 0) {
                throw new IllegalArgumentException("--mini-batch-size must be at least 1, got " + miniBatchSize);
            }
            if (!(clipRange > 0) || Double.isInfinite(clipRange)) {
                throw new IllegalArgumentException("--cliprange must be > 0, got " + clipRange);
            }
        }

        /** 4 epochs over the whole rollout as one minibatch, ε = 0.2. */
        public static Updates defaults() {
            return new Updates(4, 0, 0.2);
        }

        public Updates withEpochs(int n) {
            return new Updates(n, miniBatchSize, clipRange);
        }

        public Updates withMiniBatchSize(int n) {
            return new Updates(epochs, n, clipRange);
        }

        public Updates withClipRange(double e) {
            return new Updates(epochs, miniBatchSize, e);
        }
    }

    /**
     * @param coef        β of the KL penalty (the initial value when adaptive)
     * @param estimator   per-token estimator of the KL (k1 or k3)
     * @param adaptive    the adaptive controller of Ziegler et al. 2019, or empty for a fixed β
     * @param refEmaDecay move the reference towards the policy after each iteration by this EMA decay (0 = a
     *                    frozen reference; Xu et al. 2024)
     */
    public record KlPenalty(double coef, KlEstimator estimator, Optional<Adaptive> adaptive, double refEmaDecay) {
        public KlPenalty {
            if (!(coef >= 0) || Double.isInfinite(coef)) {
                throw new IllegalArgumentException("--kl-coef must be a finite number >= 0, got " + coef);
            }
            if (estimator == null || adaptive == null) {
                throw new IllegalArgumentException("--kl-estimator is required");
            }
            if (!(refEmaDecay >= 0 && refEmaDecay < 1)) {
                throw new IllegalArgumentException("--ref-ema-decay must be within [0, 1), got " + refEmaDecay);
            }
        }

        /** β = 0.05, k1, fixed, frozen reference (TRL's). */
        public static KlPenalty defaults() {
            return new KlPenalty(0.05, KlEstimator.K1, Optional.empty(), 0);
        }

        public KlPenalty withCoef(double b) {
            return new KlPenalty(b, estimator, adaptive, refEmaDecay);
        }

        public KlPenalty withEstimator(KlEstimator e) {
            return new KlPenalty(coef, e, adaptive, refEmaDecay);
        }

        public KlPenalty withAdaptive(Optional<Adaptive> a) {
            return new KlPenalty(coef, estimator, a, refEmaDecay);
        }

        public KlPenalty withRefEmaDecay(double d) {
            return new KlPenalty(coef, estimator, adaptive, d);
        }
    }

    /**
     * The adaptive KL controller (Ziegler et al. 2019; docs/ALGORITHMS.md §4).
     *
     * @param target  the KL to hold
     * @param horizon how many episodes a correction takes
     */
    public record Adaptive(double target, double horizon) {
        public Adaptive {
            if (!(target > 0) || !(horizon > 0) || Double.isInfinite(target) || Double.isInfinite(horizon)) {
                throw new IllegalArgumentException("--kl-target and --kl-horizon must be > 0, got " + target
                        + " and " + horizon);
            }
        }
    }

    /**
     * @param missingEosPenalty subtracted from the score of a completion that ends without EOS (empty = none)
     * @param clip              scores clipped to [−c, c] (empty = none)
     */
    public record Scores(OptionalDouble missingEosPenalty, OptionalDouble clip) {
        public Scores {
            if (missingEosPenalty == null || clip == null) {
                throw new IllegalArgumentException("score settings must not be null; use OptionalDouble.empty()");
            }
            if (missingEosPenalty.isPresent() && !Double.isFinite(missingEosPenalty.getAsDouble())) {
                throw new IllegalArgumentException("--missing-eos-penalty must be finite");
            }
            if (clip.isPresent() && !(clip.getAsDouble() > 0)) {
                throw new IllegalArgumentException("--reward-clip must be > 0, got " + clip.getAsDouble());
            }
        }

        /** No penalty, no clipping. */
        public static Scores defaults() {
            return new Scores(OptionalDouble.empty(), OptionalDouble.empty());
        }

        public Scores withMissingEosPenalty(OptionalDouble p) {
            return new Scores(p, clip);
        }

        public Scores withClip(OptionalDouble c) {
            return new Scores(missingEosPenalty, c);
        }
    }

    public RlConfig withAlgorithm(RlAlgorithm<?> a) {
        return new RlConfig(a, sampling, updates, kl, scores, seed);
    }

    public RlConfig withSampling(java.util.function.UnaryOperator<Sampling> f) {
        return new RlConfig(algorithm, f.apply(sampling), updates, kl, scores, seed);
    }

    public RlConfig withUpdates(java.util.function.UnaryOperator<Updates> f) {
        return new RlConfig(algorithm, sampling, f.apply(updates), kl, scores, seed);
    }

    public RlConfig withKl(java.util.function.UnaryOperator<KlPenalty> f) {
        return new RlConfig(algorithm, sampling, updates, f.apply(kl), scores, seed);
    }

    public RlConfig withScores(java.util.function.UnaryOperator<Scores> f) {
        return new RlConfig(algorithm, sampling, updates, kl, f.apply(scores), seed);
    }

    public RlConfig withSeed(long s) {
        return new RlConfig(algorithm, sampling, updates, kl, scores, s);
    }

    /** Sequences per rollout: prompts times samples per prompt. */
    public int rolloutSize() {
        return sampling.batchPrompts() * algorithm.samplesPerPrompt();
    }

    /** Sequences per gradient step. */
    public int miniBatchSize() {
        return updates.miniBatchSize() > 0 ? updates.miniBatchSize() : rolloutSize();
    }
}
