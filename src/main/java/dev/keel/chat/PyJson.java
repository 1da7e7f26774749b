package dev.keel.chat;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps(x, ensure_ascii, indent, separators, sort_keys)}, which transformers installs as
 * the templates' {@code tojson} filter (jinja2's own escapes HTML characters; jinjava's prints compact JSON
 * with Jackson). Formatting follows CPython's encoder: separators {@code ", "} and {@code ": "} by default,
 * {@code ","} between items once an indent is given, {@code \\uXXXX} escapes in lower case, floats as
 * {@code repr}.
 */
final class PyJson {
    /** The keyword arguments of transformers' {@code tojson}, in positional order. */
    static final List<String> PARAMETERS = List.of("ensure_ascii", "indent", "separators", "sort_keys");

    private final boolean ensureAscii;
    private final String indent; // null: everything on one line
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;

    PyJson(boolean ensureAscii, Object indent, Object separators, boolean sortKeys) {
        this.ensureAscii = ensureAscii;
        this.sortKeys = sortKeys;
        if (indent == null) {
            this.indent = null;
        } else if (indent instanceof CharSequence s) {
            this.indent = s.toString();
        } else if (indent instanceof Number n && !(indent instanceof Double || indent instanceof Float)) {
            this.indent = " ".repeat((int) Math.max(0, n.longValue()));
        } else {
            throw new PyError("tojson: indent must be an int or a str, not " + PyValues.typeName(indent));
        }
        if (separators == null) {
            this.itemSeparator = indent == null ? ", " : ",";
            this.keySeparator = ": ";
        } else {
            List<Object> pair = new ArrayList<>();
            PyValues.iterate(separators, "tojson separators").forEach(pair::add);
            if (pair.size() != 2 || !(pair.get(0) instanceof CharSequence) || !(pair.get(1) instanceof CharSequence)) {
                throw new PyError("tojson: separators must be a pair of strings (item, key), got "
                        + PyValues.repr(separators));
            }
            this.itemSeparator = pair.get(0).toString();
            this.keySeparator = pair.get(1).toString();
        }
    }

    String dumps(Object x) {
        StringBuilder out = new StringBuilder();
        write(out, x, 0);
        return out.toString();
    }

    private void write(StringBuilder out, Object x, int level) {
        if (PyNone.isNone(x)) {
            out.append("null");
        } else if (x instanceof CharSequence s) {
            writeString(out, s.toString());
        } else if (x instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (x instanceof Long || x instanceof Integer || x instanceof Short || x instanceof Byte
                || x instanceof BigInteger) {
            out.append(x);
        } else if (x instanceof Double || x instanceof Float || x instanceof BigDecimal) {
            out.append(floatJson(((Number) x).doubleValue()));
        } else if (x instanceof Map<?, ?> m) {
            writeObject(out, m, level);
        } else if (x instanceof Collection<?> || x instanceof Object[]) {
            List<Object> items = new ArrayList<>();
            PyValues.iterate(x, "tojson").forEach(items::add);
            if (items.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < items.size(); i++) {
                separate(out, i, level + 1);
                write(out, items.get(i), level + 1);
            }
            close(out, level);
            out.append(']');
        } else {
            throw new PyError("tojson: Object of type " + PyValues.typeName(x) + " is not JSON serializable");
        }
    }

    private void writeObject(StringBuilder out, Map<?, ?> m, int level) {
        if (m.isEmpty()) {
            out.append("{}");
            return;
        }
        List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
        if (sortKeys) {
            entries.sort(Comparator.comparing(e -> key(e.getKey())));
        }
        out.append('{');
        for (int i = 0; i < entries.size(); i++) {
            separate(out, i, level + 1);
            writeString(out, key(entries.get(i).getKey()));
            out.append(keySeparator);
            write(out, entries.get(i).getValue(), level + 1);
        }
        close(out, level);
        out.append('}');
    }

    /** Python turns None, bool, int and float keys into strings; anything else is a TypeError. */
    private static String key(Object k) {
        if (k instanceof CharSequence s) {
            return s.toString();
        }
        if (PyNone.isNone(k) || k instanceof Boolean || k instanceof Number) {
            return new PyJson(false, null, null, false).dumps(k);
        }
        throw new PyError("tojson: keys must be str, int, float, bool or None, not " + PyValues.typeName(k));
    }

    private void separate(StringBuilder out, int index, int level) {
        if (index > 0) {
            out.append(itemSeparator);
        }
        if (indent != null) {
            out.append('\n').append(indent.repeat(level));
        }
    }

    private void close(StringBuilder out, int level) {
        if (indent != null) {
            out.append('\n').append(indent.repeat(level));
        }
    }

    private static String floatJson(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        return PyValues.floatRepr(d);
    }

    private void writeString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    // ensure_ascii escapes everything outside ' '..'~' (UTF-16 units, so astral characters
                    // become surrogate pairs, as in Python)
                    if (c < ' ' || (ensureAscii && c > '~')) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
