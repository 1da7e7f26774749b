package dev.keel.data;

/**
 * A tokenized preference: prompt, chosen and rejected completions, and an optional margin (reward modelling).
 * Immutable; what a reference model thinks of the pair lives in {@code dev.keel.train.ReferenceLogps}.
 *
 * <p>Equality is a record's: the id arrays compare by identity, so two pairs are equal only when they share
 * their arrays (a pair is its own key in a map).
 *
 * @param line        1-based line of the record in its file (or a position for generated pairs)
 * @param promptIds   prompt token ids
 * @param chosenIds   chosen completion token ids
 * @param rejectedIds rejected completion token ids
 * @param margin      the per-pair margin m of the Bradley-Terry loss (0 when the record has none)
 */
public record PreferencePair(int line, long[] promptIds, long[] chosenIds, long[] rejectedIds, double margin) {}
