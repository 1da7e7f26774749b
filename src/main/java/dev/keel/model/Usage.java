package dev.keel.model;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the work done with models, for the cost columns of the experiment report: sequences and tokens
 * through a forward pass, and those of them run with gradients on, each of which a backward pass follows in
 * Keel's trainers. Generation counts each cached step as a forward pass of one token per sequence.
 */
public final class Usage {
    private static final AtomicLong FORWARD_ROWS = new AtomicLong();
    private static final AtomicLong FORWARD_TOKENS = new AtomicLong();
    private static final AtomicLong BACKWARD_ROWS = new AtomicLong();
    private static final AtomicLong BACKWARD_TOKENS = new AtomicLong();

    private Usage() {}

    /** A snapshot of the counters. */
    public record Counts(long forwardRows, long forwardTokens, long backwardRows, long backwardTokens) {
        public Counts minus(Counts o) {
            return new Counts(forwardRows - o.forwardRows, forwardTokens - o.forwardTokens,
                    backwardRows - o.backwardRows, backwardTokens - o.backwardTokens);
        }
    }

    public static void forward(long rows, long tokens, boolean withGrad) {
        FORWARD_ROWS.addAndGet(rows);
        FORWARD_TOKENS.addAndGet(tokens);
        if (withGrad) {
            BACKWARD_ROWS.addAndGet(rows);
            BACKWARD_TOKENS.addAndGet(tokens);
        }
    }

    public static Counts now() {
        return new Counts(FORWARD_ROWS.get(), FORWARD_TOKENS.get(), BACKWARD_ROWS.get(), BACKWARD_TOKENS.get());
    }
}
