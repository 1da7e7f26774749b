package dev.keel.chat;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Python's printf-style formatting, {@code "%s: %d" % (a, b)}, as jinja2's {@code format} filter uses it:
 * conversions s, r, d, i, f, F, e, E, g, G, x, X, o, c and %, with flags, width and precision.
 */
final class PyFormat {
    private static final Pattern SPEC = Pattern.compile("%([-+ 0#]*)(\\d+)?(?:\\.(\\d+))?([srdifFeEgGxXoc%])");

    private PyFormat() {}

    static String percent(String format, List<Object> args) {
        StringBuilder out = new StringBuilder();
        Matcher m = SPEC.matcher(format);
        int last = 0;
        int next = 0;
        while (m.find()) {
            out.append(format, last, m.start());
            last = m.end();
            char conversion = m.group(4).charAt(0);
            if (conversion == '%') {
                out.append('%');
                continue;
            }
            if (next >= args.size()) {
                throw new PyError("not enough arguments for format string");
            }
            out.append(one(m.group(1), m.group(2), m.group(3), conversion, args.get(next++)));
        }
        if (format.indexOf('%', last) >= 0) {
            throw new PyError("incomplete format");
        }
        if (next < args.size()) {
            throw new PyError("not all arguments converted during string formatting");
        }
        return out.append(format.substring(last)).toString();
    }

    private static String one(String flags, String width, String precision, char conversion, Object value) {
        String text;
        switch (conversion) {
            case 's', 'r' -> {
                text = value == null ? "" : conversion == 's' ? PyValues.str(value) : PyValues.repr(value);
                if (precision != null && text.length() > Integer.parseInt(precision)) {
                    text = text.substring(0, Integer.parseInt(precision));
                }
                return pad(text, flags.contains("-"), width);
            }
            case 'c' -> {
                return pad(value instanceof Number n ? new String(Character.toChars(n.intValue())) : PyValues.str(value),
                        flags.contains("-"), width);
            }
            default -> {
                if (!(value instanceof Number || value instanceof Boolean)) {
                    throw new PyError("%" + conversion + " format: a real number is required, not " + PyValues.typeName(value));
                }
                Number n = value instanceof Boolean b ? (b ? 1L : 0L) : (Number) value;
                boolean integral = "dixXo".indexOf(conversion) >= 0;
                String javaFlags = flags.replace("#", integral ? "#" : "");
                String spec = "%" + javaFlags + (width == null ? "" : width)
                        + (precision == null || integral ? "" : "." + precision)
                        + (conversion == 'i' ? 'd' : conversion == 'F' ? 'f' : conversion);
                Object arg = integral ? (Object) n.longValue() : (Object) n.doubleValue();
                return String.format(Locale.ROOT, spec, arg);
            }
        }
    }

    private static String pad(String text, boolean left, String width) {
        int w = width == null ? 0 : Integer.parseInt(width);
        if (text.length() >= w) {
            return text;
        }
        String fill = " ".repeat(w - text.length());
        return left ? text + fill : fill + text;
    }
}
