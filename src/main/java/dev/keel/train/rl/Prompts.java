package dev.keel.train.rl;

import java.util.List;

import dev.keel.tokenizer.Tokenizer;

/**
 * The prompts of an RL run: token ids for the policy, the text the reward sees, and the tokenizer that
 * turns completions back into text.
 *
 * @param ids   prompt token ids
 * @param texts the same prompts as text (what a text-reading reward is given)
 * @param tok   the policy's tokenizer
 */
public record Prompts(List<long[]> ids, List<String> texts, Tokenizer tok) {
    public Prompts {
        if (ids.size() != texts.size()) {
            throw new IllegalArgumentException(ids.size() + " prompt id lists but " + texts.size() + " prompt texts");
        }
        if (ids.isEmpty()) {
            throw new IllegalArgumentException("no prompts");
        }
        ids = List.copyOf(ids);
        texts = List.copyOf(texts);
    }

    /** A completion's text, special tokens dropped. */
    public String decode(long[] completion) {
        return tok.decode(completion, true);
    }

    public int size() {
        return ids.size();
    }
}
