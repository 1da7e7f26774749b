package dev.keel.cli;

import dev.keel.KeelException;
import dev.keel.data.Jsonl;
import dev.keel.tokenizer.Tokenizer;

/** Turns a prompt given on the command line or in a JSONL record into ids for generation. */
final class PromptEncoder {
    private PromptEncoder() {}

    /** Plain text gets the tokenizer's special tokens (e.g. BOS); an empty result becomes BOS alone. */
    static long[] encode(Tokenizer tok, String text, com.fasterxml.jackson.databind.JsonNode messages, boolean chat,
                         String where) {
        if (chat) {
            throw new KeelException(where + ": --chat needs chat-template support");
        }
        long[] ids = tok.encode(text, true);
        if (ids.length == 0) {
            if (tok.bosId() == null) {
                throw new KeelException(where + ": the prompt is empty and the tokenizer has no BOS token");
            }
            ids = new long[] {tok.bosId()};
        }
        return ids;
    }

    static long[] fromRecord(Tokenizer tok, Jsonl.Line l, boolean chat, long vocabSize) {
        if (l.has("prompt_ids")) {
            return l.ids("prompt_ids", vocabSize, false);
        }
        if (chat) {
            if (!l.has("messages") && !l.has("prompt")) {
                throw l.error("messages", "missing (a chat record needs messages or prompt)");
            }
        }
        return encode(tok, l.string("prompt", true), null, chat, l.where());
    }
}
