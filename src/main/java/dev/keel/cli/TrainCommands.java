package dev.keel.cli;

import java.util.Locale;
import java.nio.file.Files;
import java.nio.file.Path;

import dev.keel.data.ChatEncoder;
import dev.keel.chat.ChatTemplate;
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

    /** Chat-template encoding of {"messages"} records, or null when the model has no chat template. */
    static ChatEncoder conversationEncoder(Path modelDir, Tokenizer tok) {
        ChatTemplate t = chatTemplateOrNull(modelDir, tok);
        return t == null ? null : new ChatEncoder(t, tok);
    }

    /**
     * Refuses a reference model whose vocabulary differs from the policy's, before anything is written: its
     * log-probabilities would be of other tokens (or fail deep in libtorch on an id it has no row for).
     */
    static void sameVocabulary(Path model, int vocabSize, Path ref, String option) {
        if (ref == null) {
            return;
        }
        int other = dev.keel.model.io.ModelFiles.readConfig(ref).vocabSize();
        if (other != vocabSize) {
            throw new dev.keel.KeelException(option + " " + ref + " has a vocabulary of " + other + " tokens but "
                    + model + " has " + vocabSize + "; the reference must share the policy's tokenizer");
        }
    }

    static ChatTemplate chatTemplateOrNull(Path modelDir, Tokenizer tok) {
        boolean has = tok.config().hasNonNull("chat_template") || Files.isRegularFile(modelDir.resolve("chat_template.jinja"));
        return has ? ChatTemplate.load(modelDir, tok.config()) : null;
    }
}
