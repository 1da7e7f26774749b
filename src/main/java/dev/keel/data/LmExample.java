package dev.keel.data;

/**
 * A tokenized language-modelling example: ids and a loss mask (1 where the token is one to learn: every
 * token of plain text, completion or assistant tokens where there is a prompt).
 *
 * @param line where it came from (0 for packed blocks of several records)
 */
public record LmExample(int line, long[] ids, long[] lossMask) {
    public LmExample {
        if (ids.length != lossMask.length) {
            throw new IllegalArgumentException("ids and mask lengths differ");
        }
    }

    /** Tokens whose prediction counts (the first token is never predicted). */
    public int countedTokens() {
        int n = 0;
        for (int i = 1; i < lossMask.length; i++) {
            n += (int) lossMask[i];
        }
        return n;
    }
}
