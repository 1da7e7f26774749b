package dev.keel.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import dev.keel.model.Usage;

/**
 * The cost of one piece of work: wall time, the process's peak resident memory while it ran (the kernel's
 * high-water mark is reset at the start where Linux allows it), and the model passes it made.
 */
public final class Cost {
    private final long start;
    private final Usage.Counts usage;

    private Cost() {
        resetPeak();
        this.start = System.nanoTime();
        this.usage = Usage.now();
    }

    public static Cost start() {
        return new Cost();
    }

    /** What the work cost. */
    public record Spent(double seconds, double peakRssMb, long forwardSequences, long forwardTokens,
                        long backwardSequences, long backwardTokens) {
        /** Nothing spent. */
        public static final Spent NONE = new Spent(0, 0, 0, 0, 0, 0);

        /** This work without {@code o}'s, done within it (time and passes; the peak stays this work's). */
        public Spent minus(Spent o) {
            return new Spent(seconds - o.seconds, peakRssMb, forwardSequences - o.forwardSequences,
                    forwardTokens - o.forwardTokens, backwardSequences - o.backwardSequences,
                    backwardTokens - o.backwardTokens);
        }

        /** This work plus {@code o}'s, run one after the other (the peak is the larger of the two). */
        public Spent plus(Spent o) {
            return new Spent(seconds + o.seconds, Math.max(peakRssMb, o.peakRssMb), forwardSequences + o.forwardSequences,
                    forwardTokens + o.forwardTokens, backwardSequences + o.backwardSequences,
                    backwardTokens + o.backwardTokens);
        }
    }

    public Spent stop() {
        Usage.Counts u = Usage.now().minus(usage);
        return new Spent((System.nanoTime() - start) / 1e9, peakRssMb(), u.forwardRows(), u.forwardTokens(),
                u.backwardRows(), u.backwardTokens());
    }

    /** Resets VmHWM (writing 5 to /proc/self/clear_refs, Linux 4.0+); silently does nothing elsewhere. */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException e) {
            // not Linux, or not permitted: the peak then covers the whole process so far
        }
    }

    static double peakRssMb() {
        return dev.keel.runtime.Proc.peakRssMb();
    }
}
