package dev.keel.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.KeelException;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

/**
 * Reads preference data in TRL's forms, validating every record before training:
 * <ul>
 * <li>standard: {@code {"prompt": "...", "chosen": "...", "rejected": "..."}};
 * <li>conversational: {@code prompt} a list of messages, {@code chosen}/{@code rejected} lists holding the
 *     assistant reply; the prompt is rendered with the chat template and the generation prompt, and each reply
 *     is the rest of the full conversation's rendering;
 * <li>pre-tokenized: {@code prompt_ids}, {@code chosen_ids}, {@code rejected_ids};
 * <li>optional {@code margin} (a number) for the reward model's loss.
 * </ul>
 * As in TRL, prompt and completions are tokenized separately and joined, so a prompt that ends mid-word and a
 * completion that starts with a space keep their own tokens; EOS is appended to each completion. The prompt
 * gets the tokenizer's special tokens (e.g. BOS) as in Keel's SFT and scoring. Pairs longer than
 * {@code maxLength} keep the end of the prompt (TRL's keep_end) and cut completions to fit, or are an error
 * with {@link Truncation#ERROR}.
 */
public final class PreferenceData {
    private PreferenceData() {}

    public record Result(List<PreferencePair> pairs, int truncated) {}

    public static Result read(Path file, Tokenizer tok, ChatTemplate template, long vocabSize, int maxLength,
                              int maxPromptLength, Truncation truncation) {
        List<PreferencePair> out = new ArrayList<>();
        int truncated = 0;
        for (Jsonl.Line l : Jsonl.read(file)) {
            long[] p;
            long[] c;
            long[] r;
            if (l.has("prompt_ids") || l.has("chosen_ids") || l.has("rejected_ids")) {
                p = l.ids("prompt_ids", vocabSize, true);
                c = l.ids("chosen_ids", vocabSize, false);
                r = l.ids("rejected_ids", vocabSize, false);
            } else {
                long[][] e = encode(l, tok, template, "chosen", "rejected");
                p = e[0];
                c = e[1];
                r = e[2];
            }
            p = orBos(l, tok, p);
            double margin = 0;
            if (l.has("margin")) {
                JsonNode m = l.node().get("margin");
                if (!m.isNumber()) {
                    throw l.error("margin", "must be a number");
                }
                margin = m.asDouble();
            }
            int longest = p.length + Math.max(c.length, r.length);
            if (longest > maxLength || p.length > maxPromptLength) {
                if (truncation == Truncation.ERROR) {
                    throw new KeelException(l.where() + ": pair is " + longest + " tokens (prompt " + p.length
                            + "), longer than --max-length " + maxLength + " or --max-prompt-length " + maxPromptLength
                            + " (--truncation error)");
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
                r = Arrays.copyOf(r, Math.min(r.length, room));
                truncated++;
            }
            out.add(new PreferencePair(l.number(), p, c, r, margin));
        }
        return new Result(out, truncated);
    }

    static List<Map<String, Object>> messages(Jsonl.Line l, String field) {
        try {
            return ChatTemplate.messagesFromJson(l.node().get(field));
        } catch (KeelException e) {
            throw l.error(field, e.getMessage());
        }
    }

    static String render(Jsonl.Line l, ChatTemplate t, List<Map<String, Object>> m, boolean genPrompt, String field) {
        try {
            return t.render(m, genPrompt, null);
        } catch (KeelException e) {
            throw l.error(field, e.getMessage());
        }
    }

    /** The reply's tokens: the full conversation's rendering after the prompt's rendering. */
    /**
     * A text or conversational record's prompt and the completions in {@code fields}, as token ids: a string
     * prompt with the tokenizer's special tokens and each completion with EOS appended; a conversation rendered
     * with the chat template (prompt with the generation prompt, each reply the rest of the full rendering).
     *
     * @return the prompt's ids, then each field's, in order
     */
    static long[][] encode(Jsonl.Line l, Tokenizer tok, ChatTemplate template, String... fields) {
        if (tok == null) {
            throw new KeelException(l.where() + ": text record but the model has no tokenizer.json");
        }
        long[][] out = new long[fields.length + 1][];
        JsonNode prompt = l.node().get("prompt");
        if (prompt != null && prompt.isArray()) {
            if (template == null) {
                throw l.error("prompt", "a conversation needs a chat template (tokenizer_config.json chat_template)");
            }
            List<Map<String, Object>> pm = messages(l, "prompt");
            String promptText = render(l, template, pm, true, "prompt");
            out[0] = tok.encode(promptText, false);
            for (int i = 0; i < fields.length; i++) {
                out[i + 1] = reply(l, tok, template, pm, promptText, fields[i]);
            }
        } else {
            out[0] = tok.encode(l.string("prompt", true), true);
            for (int i = 0; i < fields.length; i++) {
                out[i + 1] = withEos(tok.encode(l.string(fields[i], false), false), tok.eosId());
            }
        }
        return out;
    }

    /** An empty prompt starts from BOS (the model needs a first position to predict from), or is an error. */
    static long[] orBos(Jsonl.Line l, Tokenizer tok, long[] prompt) {
        if (prompt.length > 0) {
            return prompt;
        }
        if (tok == null || tok.bosId() == null) {
            throw l.error("prompt", "is empty and there is no BOS token to start from");
        }
        return new long[] {tok.bosId()};
    }

    static long[] reply(Jsonl.Line l, Tokenizer tok, ChatTemplate t, List<Map<String, Object>> prompt,
                                String promptText, String field) {
        List<Map<String, Object>> all = new ArrayList<>(prompt);
        all.addAll(messages(l, field));
        if (all.size() == prompt.size()) {
            throw l.error(field, "is empty");
        }
        String full = render(l, t, all, false, field);
        if (!full.startsWith(promptText)) {
            throw l.error(field, "the chat template does not render the reply as a continuation of the prompt");
        }
        long[] ids = tok.encode(full.substring(promptText.length()), false);
        if (ids.length == 0) {
            throw l.error(field, "renders to no tokens");
        }
        return ids;
    }

    static long[] withEos(long[] ids, Long eos) {
        if (eos == null) {
            return ids;
        }
        long[] r = Arrays.copyOf(ids, ids.length + 1);
        r[ids.length] = eos;
        return r;
    }
}
