package dev.keel.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.keel.KeelException;
import dev.keel.tokenizer.Tokenizer;

/**
 * Reads supervised fine-tuning data in TRL's formats and tokenizes it, validating every record before any
 * training starts:
 * <ul>
 * <li>{@code {"text"}}: language modelling on every token, EOS appended; with packing, all texts are joined
 *     (EOS between them) and cut into blocks of max-length tokens (TRL's {@code packing=True});
 * <li>{@code {"prompt", "completion"}}: prompt then completion, EOS appended, loss on the completion and EOS
 *     only (TRL's {@code completion_only_loss}); prompt and completion are tokenized separately and joined;
 * <li>{@code {"messages": [...]}} rendered with the model's chat template, loss on assistant turns only;
 * <li>pre-tokenized {@code {"prompt_ids", "completion_ids"}} or {@code {"input_ids"}}.
 * </ul>
 */
public final class SftData {
    private SftData() {}

    /** The examples, and how many records were cut to fit. */
    public record Result(List<LmExample> examples, int truncated) {}

    /** Renders a conversation into (prompt-like, assistant) segments; supplied by the chat-template code. */
    public interface ConversationEncoder {
        /** Segments of ids and whether each one is an assistant turn (learned) or not. */
        List<Segment> encode(Jsonl.Line line);
    }

    public record Segment(long[] ids, boolean learn) {}

    public static Result read(Path file, Tokenizer tok, long vocabSize, int maxLength, Truncation truncation,
                              boolean packing, ConversationEncoder chat) {
        if (maxLength < 2) {
            throw new KeelException("--max-length must be at least 2, got " + maxLength);
        }
        Long eos = tok == null ? null : tok.eosId();
        List<LmExample> out = new ArrayList<>();
        List<long[]> texts = new ArrayList<>();
        int truncated = 0;
        for (Jsonl.Line l : Jsonl.read(file)) {
            long[] ids;
            long[] mask;
            if (l.has("input_ids")) {
                ids = l.ids("input_ids", vocabSize, false);
                mask = Ids.ones(ids.length);
            } else if (l.has("prompt_ids") || l.has("completion_ids")) {
                long[] p = l.ids("prompt_ids", vocabSize, true);
                long[] c = l.ids("completion_ids", vocabSize, false);
                ids = Ids.concat(p, c);
                mask = Ids.concat(new long[p.length], Ids.ones(c.length));
            } else if (l.has("messages")) {
                if (chat == null) {
                    throw l.error("messages", "conversational data needs a chat template (tokenizer_config.json "
                            + "chat_template)");
                }
                List<Segment> segs = chat.encode(l);
                ids = new long[0];
                mask = new long[0];
                boolean any = false;
                for (Segment s : segs) {
                    ids = Ids.concat(ids, s.ids());
                    long[] m = new long[s.ids().length];
                    if (s.learn()) {
                        Arrays.fill(m, 1);
                        any |= s.ids().length > 0;
                    }
                    mask = Ids.concat(mask, m);
                }
                if (!any) {
                    throw l.error("messages", "has no assistant message to learn from");
                }
            } else if (l.has("prompt") || l.has("completion")) {
                requireTokenizer(tok, l);
                String prompt = l.string("prompt", true);
                String completion = l.string("completion", false);
                long[] p = tok.encode(prompt, true);
                long[] c = withEos(tok.encode(completion, false), eos);
                if (p.length == 0 && tok.bosId() != null) {
                    p = new long[] {tok.bosId()};
                }
                ids = Ids.concat(p, c);
                mask = Ids.concat(new long[p.length], Ids.ones(c.length));
            } else if (l.has("text")) {
                requireTokenizer(tok, l);
                ids = withEos(tok.encode(l.string("text", false), true), eos);
                mask = Ids.ones(ids.length);
                if (packing) {
                    texts.add(ids);
                    continue;
                }
            } else {
                throw new KeelException(l.where() + ": no known fields; expected one of text, prompt+completion, "
                        + "messages, prompt_ids+completion_ids, input_ids");
            }
            if (ids.length > maxLength) {
                if (truncation == Truncation.ERROR) {
                    throw new KeelException(l.where() + ": record is " + ids.length + " tokens, longer than --max-length "
                            + maxLength + " (--truncation error)");
                }
                ids = Arrays.copyOf(ids, maxLength);
                mask = Arrays.copyOf(mask, maxLength);
                truncated++;
            }
            LmExample ex = new LmExample(l.number(), ids, mask);
            if (ex.countedTokens() == 0) {
                throw new KeelException(l.where() + ": nothing to learn: every completion token was cut by "
                        + "--max-length " + maxLength);
            }
            out.add(ex);
        }
        if (packing) {
            out.addAll(pack(texts, maxLength));
        }
        return new Result(out, truncated);
    }

    /** Joins token sequences and cuts them into blocks of {@code blockSize} (the last, shorter one kept if ≥ 2). */
    public static List<LmExample> pack(List<long[]> seqs, int blockSize) {
        long total = 0;
        for (long[] s : seqs) {
            total += s.length;
        }
        long[] all = new long[(int) total];
        int at = 0;
        for (long[] s : seqs) {
            System.arraycopy(s, 0, all, at, s.length);
            at += s.length;
        }
        List<LmExample> out = new ArrayList<>();
        for (int i = 0; i < all.length; i += blockSize) {
            long[] b = Arrays.copyOfRange(all, i, Math.min(all.length, i + blockSize));
            if (b.length >= 2) {
                out.add(new LmExample(0, b, Ids.ones(b.length)));
            }
        }
        return out;
    }

    private static void requireTokenizer(Tokenizer tok, Jsonl.Line l) {
        if (tok == null) {
            throw new KeelException(l.where() + ": text record but the model has no tokenizer.json");
        }
    }

    private static long[] withEos(long[] ids, Long eos) {
        if (eos == null || (ids.length > 0 && ids[ids.length - 1] == eos)) {
            return ids;
        }
        return Ids.concat(ids, new long[] {eos});
    }

}
