package dev.keel.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.KeelException;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

/**
 * Reads unpaired preference data, TRL's format for KTO, validating every record before training:
 * <ul>
 * <li>standard: {@code {"prompt": "...", "completion": "...", "label": true}};
 * <li>conversational: {@code prompt} a list of messages and {@code completion} a list holding the assistant reply,
 *     rendered with the chat template as {@link PreferenceData} renders pairs;
 * <li>pre-tokenized: {@code prompt_ids}, {@code completion_ids}, {@code label}.
 * </ul>
 * {@code label} must be a JSON boolean. Prompt and completion are tokenized apart and joined, EOS is appended to a
 * text completion, and long records are cut as {@link PreferenceData} cuts pairs (the end of the prompt is kept).
 */
public final class KtoData {
    private KtoData() {}

    public record Result(List<KtoExample> examples, int truncated) {}

    public static Result read(Path file, Tokenizer tok, ChatTemplate template, long vocabSize, int maxLength,
                              int maxPromptLength, Truncation truncation) {
        List<KtoExample> out = new ArrayList<>();
        int truncated = 0;
        for (Jsonl.Line l : Jsonl.read(file)) {
            if (l.has("chosen") || l.has("rejected") || l.has("chosen_ids") || l.has("rejected_ids")) {
                throw l.error(l.has("chosen") || l.has("chosen_ids") ? "chosen" : "rejected",
                        "KTO reads unpaired records {\"prompt\", \"completion\", \"label\"}; split each pair into a "
                        + "desirable and an undesirable record");
            }
            JsonNode label = l.node().get("label");
            if (label == null || label.isNull()) {
                throw l.error("label", "missing");
            }
            if (!label.isBoolean()) {
                throw l.error("label", "must be true (desirable) or false (undesirable), got " + label);
            }
            long[] p;
            long[] c;
            if (l.has("prompt_ids") || l.has("completion_ids")) {
                p = l.ids("prompt_ids", vocabSize, true);
                c = l.ids("completion_ids", vocabSize, false);
            } else {
                long[][] e = PreferenceData.encode(l, tok, template, "completion");
                p = e[0];
                c = e[1];
            }
            p = PreferenceData.orBos(l, tok, p);
            if (p.length + c.length > maxLength || p.length > maxPromptLength) {
                if (truncation == Truncation.ERROR) {
                    throw new KeelException(l.where() + ": record is " + (p.length + c.length) + " tokens (prompt "
                            + p.length + "), longer than --max-length " + maxLength + " or --max-prompt-length "
                            + maxPromptLength + " (--truncation error)");
                }
                if (p.length > maxPromptLength) {
                    p = Arrays.copyOfRange(p, p.length - maxPromptLength, p.length); // keep the end of the prompt
                }
                int room = maxLength - p.length;
                if (room < 1) {
                    throw new KeelException(l.where() + ": no room for a completion after a " + p.length
                            + "-token prompt in --max-length " + maxLength);
                }
                c = Arrays.copyOf(c, Math.min(c.length, room));
                truncated++;
            }
            out.add(new KtoExample(l.number(), p, c, label.asBoolean()));
        }
        return new Result(out, truncated);
    }
}
