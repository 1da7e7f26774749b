package dev.keel.cli;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.KeelException;
import dev.keel.data.ChatEncoder;
import dev.keel.data.Jsonl;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

/**
 * Turns a prompt given on the command line or in a JSONL record into ids for generation: plain text with the
 * tokenizer's special tokens (e.g. BOS), or with --chat a conversation rendered by the chat template with the
 * generation prompt. Records: {"prompt": "text"}, {"prompt": [messages]} or {"messages": [...]} (TRL's
 * conversational prompt-only form), or {"prompt_ids": [...]}.
 */
final class PromptEncoder {
    private final Tokenizer tok;
    private final ChatEncoder chat;

    PromptEncoder(Tokenizer tok, ChatEncoder chat) {
        this.tok = tok;
        this.chat = chat;
    }

    long[] text(String text, String where) {
        if (chat != null) {
            return chat.prompt(List.of(Map.of("role", "user", "content", text)));
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

    long[] record(Jsonl.Line l, long vocabSize) {
        if (l.has("prompt_ids")) {
            return l.ids("prompt_ids", vocabSize, false);
        }
        JsonNode messages = l.has("messages") ? l.node().get("messages")
                : l.node().path("prompt").isArray() ? l.node().get("prompt") : null;
        if (messages != null) {
            if (chat == null) {
                throw l.error(l.has("messages") ? "messages" : "prompt",
                        "a conversation needs --chat and a model with a chat template");
            }
            try {
                return chat.prompt(ChatTemplate.messagesFromJson(messages));
            } catch (KeelException e) {
                throw new KeelException(l.where() + ": " + e.getMessage(), e);
            }
        }
        return text(l.string("prompt", true), l.where());
    }
}
