package dev.keel;

/**
 * An error a user can act on: bad input, a broken checkpoint, an unsupported model. The message names the
 * file and, where there is one, the line, field or tensor. The CLI prints it and exits non-zero without a
 * stack trace.
 */
public class KeelException extends RuntimeException {
    public KeelException(String message) {
        super(message);
    }

    public KeelException(String message, Throwable cause) {
        super(message, cause);
    }
}
