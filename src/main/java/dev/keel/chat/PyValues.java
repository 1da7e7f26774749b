package dev.keel.chat;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * How Python shows values: {@code str()} (what {@code {{ x }}} prints in jinja2) and {@code repr()} (how a
 * list shows its items). Jinjava prints Java's {@code toString()} instead: {@code [a, b]} for
 * {@code ['a', 'b']}, {@code true} for {@code True}, {@code {a=1}} for {@code {'a': 1}}.
 */
final class PyValues {
    private PyValues() {}

    /** Python's {@code str(x)}; {@code null} is Python's None. */
    static String str(Object x) {
        if (x instanceof CharSequence s) {
            return s.toString();
        }
        return repr(x);
    }

    /** Python's {@code repr(x)}. */
    static String repr(Object x) {
        StringBuilder out = new StringBuilder();
        appendRepr(out, x);
        return out.toString();
    }

    private static void appendRepr(StringBuilder out, Object x) {
        if (PyNone.isNone(x)) {
            out.append("None");
        } else if (x instanceof CharSequence s) {
            appendStringRepr(out, s.toString());
        } else if (x instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (x instanceof Double || x instanceof Float || x instanceof BigDecimal) {
            out.append(floatRepr(((Number) x).doubleValue()));
        } else if (x instanceof Map<?, ?> m) {
            out.append('{');
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (i++ > 0) {
                    out.append(", ");
                }
                appendRepr(out, e.getKey());
                out.append(": ");
                appendRepr(out, e.getValue());
            }
            out.append('}');
        } else if (x instanceof Collection<?> || x instanceof Object[]) {
            out.append('[');
            int i = 0;
            for (Object o : iterate(x, "repr")) {
                if (i++ > 0) {
                    out.append(", ");
                }
                appendRepr(out, o);
            }
            out.append(']');
        } else {
            out.append(x);
        }
    }

    /** CPython's {@code unicode_repr}: single quotes unless the text has ' and no ", escapes for unprintables. */
    private static void appendStringRepr(StringBuilder out, String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                out.append('\\').appendCodePoint(cp);
            } else if (cp == '\t') {
                out.append("\\t");
            } else if (cp == '\n') {
                out.append("\\n");
            } else if (cp == '\r') {
                out.append("\\r");
            } else if (cp < ' ' || cp == 0x7F) {
                out.append(String.format("\\x%02x", cp));
            } else if (cp < 0x7F || printable(cp)) {
                out.appendCodePoint(cp);
            } else if (cp <= 0xFF) {
                out.append(String.format("\\x%02x", cp));
            } else if (cp <= 0xFFFF) {
                out.append(String.format("\\u%04x", cp));
            } else {
                out.append(String.format("\\U%08x", cp));
            }
        }
        out.append(quote);
    }

    /** Python's {@code str.isprintable()} for a non-ASCII code point. */
    private static boolean printable(int cp) {
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /**
     * Python's {@code repr(float)}: the shortest round-tripping digits, positional for exponents -4..15
     * ({@code 1.0}, {@code 0.0001}), scientific otherwise ({@code 1e-05}, {@code 1e+16}).
     */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return 1 / d < 0 ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exp = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
        StringBuilder out = new StringBuilder(d < 0 ? "-" : "");
        if (exp < -4 || exp >= 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            out.append('e').append(exp < 0 ? '-' : '+').append(String.format("%02d", Math.abs(exp)));
        } else if (exp >= 0) {
            String whole = digits.length() > exp + 1 ? digits.substring(0, exp + 1)
                    : digits + "0".repeat(exp + 1 - digits.length());
            String frac = digits.length() > exp + 1 ? digits.substring(exp + 1) : "0";
            out.append(whole).append('.').append(frac);
        } else {
            out.append("0.").append("0".repeat(-exp - 1)).append(digits);
        }
        return out.toString();
    }

    /** The items a Python {@code for} loop would see: a dict gives its keys, a str its characters. */
    static Iterable<?> iterate(Object x, String where) {
        if (x instanceof Map<?, ?> m) {
            return m.keySet();
        }
        if (x instanceof Iterable<?> it) {
            return it;
        }
        if (x instanceof Object[] a) {
            return Arrays.asList(a);
        }
        if (x instanceof CharSequence s) {
            List<String> chars = new ArrayList<>();
            s.codePoints().forEach(cp -> chars.add(new String(Character.toChars(cp))));
            return chars;
        }
        throw new PyError(where + ": '" + typeName(x) + "' object is not iterable");
    }

    /** Python's {@code bool(x)}: None, False, zero and empty strings, lists and dicts are false. */
    static boolean truthy(Object x) {
        if (PyNone.isNone(x)) {
            return false;
        }
        if (x instanceof Boolean b) {
            return b;
        }
        if (x instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (x instanceof CharSequence s) {
            return s.length() > 0;
        }
        if (x instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        if (x instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        return true;
    }

    /** The Python type name of a value, for error messages. */
    static String typeName(Object x) {
        if (PyNone.isNone(x)) {
            return "NoneType";
        }
        if (x instanceof CharSequence) {
            return "str";
        }
        if (x instanceof Boolean) {
            return "bool";
        }
        if (x instanceof Long || x instanceof Integer || x instanceof Short || x instanceof Byte
                || x instanceof BigInteger) {
            return "int";
        }
        if (x instanceof Number) {
            return "float";
        }
        if (x instanceof Map) {
            return "dict";
        }
        if (x instanceof Collection || x instanceof Object[]) {
            return "list";
        }
        return x.getClass().getSimpleName();
    }
}
