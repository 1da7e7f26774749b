package dev.keel.reward;

import java.util.List;
import java.util.Optional;

import dev.keel.tokenizer.Tokenizer;

/**
 * Anything that scores completions: a trained reward model, a built-in gold scorer, any Java function. Text
 * in, one number per (prompt, completion) out, so the policy and the scorer need not share a tokenizer.
 */
public interface RewardSource extends AutoCloseable {
    /** How the source was named, e.g. a folder or {@code builtin:sentiment}. */
    String name();

    double[] score(List<String> prompts, List<String> completions);

    /**
     * As {@link #score(List, List)}, knowing which completions ended with EOS and which were cut by the length
     * limit (a reward model scores the two differently; text-only scorers ignore it).
     */
    default double[] score(List<String> prompts, List<String> completions, boolean[] ended) {
        return score(prompts, completions);
    }

    /**
     * This source as a scorer of the token ids {@code tok} makes, when it reads exactly those ids (a reward model
     * trained with the same tokenizer): then RL scores the sampled ids as they are, as TRL's PPO does, instead of
     * decoding them to text and tokenizing again. Empty for text scorers and for reward models with another
     * tokenizer.
     */
    default Optional<IdsScorer> ids(Tokenizer tok) {
        return Optional.empty();
    }

    /** Scores (prompt ids, completion ids) pairs; a completion that ended carries its EOS id. */
    @FunctionalInterface
    interface IdsScorer {
        double[] score(List<long[]> prompts, List<long[]> completions);
    }

    @Override
    default void close() {
    }
}
