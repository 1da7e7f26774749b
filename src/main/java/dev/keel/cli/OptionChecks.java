package dev.keel.cli;

import java.nio.file.Path;
import java.util.Set;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Checks every option value of a parsed command by its type, before the command runs, so no option needs to
 * remember it: a number must be finite ({@code --weight-decay NaN} parses as a double), a count or size must
 * not be negative (only {@code --seed} may be), and a path must not be empty ({@code --out ""} would otherwise
 * mean the current directory). Each command's own ranges (at least 1, within (0, 1], ...) come on top.
 */
final class OptionChecks {
    /** Options whose negative values mean something. */
    private static final Set<String> SIGNED = Set.of("--seed");

    private OptionChecks() {}

    /** The first problem among {@code spec}'s option values (with the option named), or null. */
    static String problem(CommandSpec spec) {
        for (OptionSpec o : spec.options()) {
            String name = o.longestName();
            Object v = o.getValue();
            if (v instanceof Double d && !Double.isFinite(d) || v instanceof Float f && !Float.isFinite(f)) {
                return name + " must be a finite number, got " + v;
            }
            if ((v instanceof Integer || v instanceof Long) && ((Number) v).longValue() < 0 && !SIGNED.contains(name)) {
                return name + " must not be negative, got " + v;
            }
            if (v instanceof Path p && p.toString().isBlank()) {
                return name + " must not be empty";
            }
            if (v instanceof java.util.List<?> list) {
                for (Object x : list) {
                    if (x instanceof Path p && p.toString().isBlank()) {
                        return name + " must not be empty";
                    }
                }
            }
        }
        return null;
    }
}
