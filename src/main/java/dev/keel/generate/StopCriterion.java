package dev.keel.generate;

/**
 * Ends a sequence early, for reasons generation cannot see in ids alone, such as a stop string that needs
 * the tokenizer to recognise. Called after each new token with the tokens generated so far for one prompt.
 */
@FunctionalInterface
public interface StopCriterion {
    StopCriterion NEVER = (prompt, generated) -> false;

    boolean shouldStop(int prompt, long[] generated);
}
