package dev.keel.cli;

import java.util.Locale;

import dev.keel.data.SftData;
import dev.keel.data.Truncation;
import dev.keel.tokenizer.Tokenizer;

/** Small pieces the training commands share. */
final class TrainCommands {
    private TrainCommands() {}

    static Truncation truncation(String s) {
        try {
            return Truncation.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--truncation must be keep_start or error, got " + s);
        }
    }

    /** Chat-template encoding of {"messages"} records, or null when the tokenizer has no template. */
    static SftData.ConversationEncoder conversationEncoder(Tokenizer tok) {
        return null;
    }
}
