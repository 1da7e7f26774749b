package dev.keel.reward;

import java.util.List;

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

    @Override
    default void close() {
    }
}
