package dev.keel.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.keel.KeelException;
import dev.keel.tokenizer.Tokenizer;

/**
 * A (prompt, completion) pair as token ids, with the line it came from.
 *
 * <p>Text records are tokenized the way TRL does: prompt and completion separately, then concatenated, so a
 * completion that starts with a space keeps its own leading-space token. The prompt gets the tokenizer's
 * special tokens (e.g. Llama's BOS); the completion gets none. An empty prompt becomes the BOS token alone.
 */
public record ScoringRecord(int line, long[] promptIds, long[] completionIds) {

    public int length() {
        return promptIds.length + completionIds.length;
    }

    /**
     * Reads {@code {"prompt","completion"}} (text) or {@code {"prompt_ids","completion_ids"}} records.
     *
     * @param tokenizer needed for text records; may be null when every record is pre-tokenized
     * @param maxLength records longer than this (prompt + completion) are an error
     */
    public static List<ScoringRecord> read(Path file, Tokenizer tokenizer, long vocabSize, int maxLength) {
        List<ScoringRecord> out = new ArrayList<>();
        for (Jsonl.Line l : Jsonl.read(file)) {
            long[] p;
            long[] c;
            if (l.has("prompt_ids") || l.has("completion_ids")) {
                p = l.ids("prompt_ids", vocabSize, true);
                c = l.ids("completion_ids", vocabSize, false);
            } else {
                if (tokenizer == null) {
                    throw new KeelException(l.where() + ": text record but the model has no tokenizer.json; "
                            + "give prompt_ids and completion_ids instead");
                }
                String prompt = l.string("prompt", true);
                String completion = l.string("completion", false);
                p = tokenizer.encode(prompt, true);
                c = tokenizer.encode(completion, false);
                if (c.length == 0) {
                    throw l.error("completion", "tokenizes to no tokens");
                }
            }
            if (p.length == 0) {
                Long bos = tokenizer == null ? null : tokenizer.bosId();
                if (bos == null) {
                    throw l.error("prompt", "is empty and the tokenizer has no BOS token to start from");
                }
                p = new long[] {bos};
            }
            if (p.length + c.length > maxLength) {
                throw new KeelException(l.where() + ": prompt + completion is " + (p.length + c.length)
                        + " tokens, longer than the model's " + maxLength + " positions");
            }
            out.add(new ScoringRecord(l.number(), p, c));
        }
        return out;
    }
}
