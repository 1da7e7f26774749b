package dev.keel.data;

/**
 * A tokenized unpaired preference (KTO's data): a prompt, one completion, and whether the completion is desirable.
 * Equality is a record's: the id arrays compare by identity.
 *
 * @param line          1-based line of the record in its file
 * @param promptIds     prompt token ids
 * @param completionIds completion token ids (EOS appended to text completions)
 * @param desirable     TRL's {@code label}: true for a desirable completion, false for an undesirable one
 */
public record KtoExample(int line, long[] promptIds, long[] completionIds, boolean desirable) {}
