package dev.keel.chat;

/**
 * An error Python would raise while rendering a template (a TypeError, a ValueError, an AttributeError): thrown
 * from inside jinjava and reported by {@link ChatTemplate} with the template line.
 */
final class PyError extends RuntimeException {
    PyError(String message) {
        super(message);
    }
}
