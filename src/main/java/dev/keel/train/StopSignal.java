package dev.keel.train;

import java.nio.file.Path;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import dev.keel.KeelException;

/**
 * SIGTERM and SIGINT during training: the first asks the run to stop at the next safe point (between optimizer
 * steps, never inside a save), where it ends with a message naming the last intact checkpoint; a second one ends
 * the process at once, as it would have without this. Installed for the length of a run, then the handlers that
 * were there before come back.
 */
public final class StopSignal implements AutoCloseable {
    private static volatile String received;
    private final SignalHandler oldTerm;
    private final SignalHandler oldInt;

    private StopSignal() {
        received = null;
        oldTerm = handle("TERM");
        oldInt = handle("INT");
    }

    /** Starts listening; close to restore the previous handlers. */
    public static StopSignal install() {
        return new StopSignal();
    }

    private static SignalHandler handle(String name) {
        try {
            return Signal.handle(new Signal(name), sig -> {
                if (received != null) {
                    Runtime.getRuntime().exit(128 + sig.getNumber()); // a second signal: end now, as by default
                    return;
                }
                received = "SIG" + sig.getName();
                System.err.println("keel: " + received + " received; stopping after the current step "
                        + "(send it again to stop at once)");
            });
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            return null; // the JVM reserves it (e.g. -Xrs): stopping stays the JVM's default
        }
    }

    /** Throws, naming the last intact checkpoint in {@code out}, when a stop was asked for. */
    public void check(String unit, long done, Path out) {
        String sig = received;
        if (sig != null) {
            Path last = Checkpoints.latest(out);
            throw new KeelException("stopped by " + sig + " after " + unit + " " + done + "; "
                    + (last != null ? "the last intact checkpoint is " + last + " (--resume continues from it)"
                    : "no checkpoint was written, so the final model was not saved"));
        }
    }

    @Override
    public void close() {
        restore("TERM", oldTerm);
        restore("INT", oldInt);
        received = null;
    }

    private static void restore(String name, SignalHandler h) {
        if (h != null) {
            try {
                Signal.handle(new Signal(name), h);
            } catch (IllegalArgumentException | UnsupportedOperationException ignored) {
                // as installed
            }
        }
    }
}
