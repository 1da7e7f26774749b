package dev.keel.cli;

/** Test access to package-private names of the dpo command. */
public final class DpoCommandAccess {
    public static final String REFERENCE_FILE = DpoCommand.REFERENCE_FILE;

    private DpoCommandAccess() {}
}
