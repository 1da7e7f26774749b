package dev.keel.chat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Python 3 {@code str} methods that chat templates call ({@code content.strip()}, {@code s.split("x", 1)}),
 * with CPython's semantics: whitespace is what {@code str.isspace()} accepts (Java's {@code String.strip()}
 * misses U+00A0 and friends), {@code split} without a separator splits on runs of whitespace, indices count
 * code points. Jinjava has none of these (Java's {@code split} takes a regex and drops trailing empty parts).
 */
final class PyStrings {
    /** The methods {@link #call} knows, with their Python parameter names (for keyword arguments). */
    private static final Map<String, List<String>> METHODS = Map.ofEntries(
            Map.entry("strip", List.of("chars")), Map.entry("lstrip", List.of("chars")),
            Map.entry("rstrip", List.of("chars")), Map.entry("startswith", List.of("prefix")),
            Map.entry("endswith", List.of("suffix")), Map.entry("split", List.of("sep", "maxsplit")),
            Map.entry("rsplit", List.of("sep", "maxsplit")), Map.entry("upper", List.of()),
            Map.entry("lower", List.of()), Map.entry("title", List.of()), Map.entry("capitalize", List.of()),
            Map.entry("replace", List.of("old", "new", "count")), Map.entry("join", List.of("iterable")),
            Map.entry("find", List.of("sub")), Map.entry("count", List.of("sub")));

    private PyStrings() {}

    static boolean has(String method) {
        return METHODS.containsKey(method);
    }

    static List<String> parameterNames(String method) {
        return METHODS.get(method);
    }

    /** Calls {@code s.method(*args)}; {@code args} are positional, already bound from keywords. */
    static Object call(String s, String method, List<Object> args) {
        List<String> names = METHODS.get(method);
        if (args.size() > names.size()) {
            throw new PyError("str." + method + "() takes at most " + names.size() + " argument"
                    + (names.size() == 1 ? "" : "s") + " (" + args.size() + " given)");
        }
        Object a0 = args.size() > 0 ? args.get(0) : null;
        Object a1 = args.size() > 1 ? args.get(1) : null;
        return switch (method) {
            case "strip" -> strip(s, chars(a0, method), true, true);
            case "lstrip" -> strip(s, chars(a0, method), true, false);
            case "rstrip" -> strip(s, chars(a0, method), false, true);
            case "startswith" -> affix(s, required(a0, args, method), true);
            case "endswith" -> affix(s, required(a0, args, method), false);
            case "split" -> split(s, optString(a0, method), a1 == null ? -1 : integer(a1, method));
            case "rsplit" -> rsplit(s, optString(a0, method), a1 == null ? -1 : integer(a1, method));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> capitalize(s);
            case "replace" -> replace(s, string(required(a0, args, method), method),
                    string(required(a1, args, method, 1), method),
                    args.size() > 2 && args.get(2) != null ? integer(args.get(2), method) : -1);
            case "join" -> join(s, required(a0, args, method));
            case "find" -> find(s, string(required(a0, args, method), method));
            case "count" -> count(s, string(required(a0, args, method), method));
            default -> throw new IllegalStateException(method);
        };
    }

    /**
     * The value of a Python string literal's body, as Python's {@code unicode-escape} codec decodes it (which is
     * how jinja2 reads template literals): backslash n, t, r and friends, octal, hex (x), 4- and 8-digit
     * unicode (u, U), named characters (N{NAME}), a backslash-newline joins lines, and a backslash before any
     * other character stays.
     */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 >= s.length()) {
                out.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case '\n' -> { } // line continuation
                case '\\', '\'', '"' -> out.append(e);
                case 'a' -> out.append('\u0007');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'v' -> out.append('\u000B');
                case 'x', 'u', 'U' -> {
                    int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (i + 1 + digits > s.length()) {
                        throw new PyError("truncated \\" + e + " escape in a string literal");
                    }
                    String hex = s.substring(i + 1, i + 1 + digits);
                    if (!hex.chars().allMatch(h -> "0123456789abcdefABCDEF".indexOf(h) >= 0)) {
                        throw new PyError("invalid \\" + e + " escape in a string literal: \\" + e + hex);
                    }
                    try {
                        out.appendCodePoint(Integer.parseUnsignedInt(hex, 16));
                    } catch (IllegalArgumentException ex) {
                        throw new PyError("illegal Unicode character in a string literal: \\" + e + hex);
                    }
                    i += digits;
                }
                case 'N' -> {
                    int close = s.indexOf('}', i);
                    if (i + 1 >= s.length() || s.charAt(i + 1) != '{' || close < 0) {
                        throw new PyError("malformed \\N character escape in a string literal");
                    }
                    try {
                        out.appendCodePoint(Character.codePointOf(s.substring(i + 2, close)));
                    } catch (IllegalArgumentException ex) {
                        throw new PyError("unknown Unicode character name in a string literal: " + s.substring(i + 2, close));
                    }
                    i = close;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int end = i;
                        while (end < s.length() && end < i + 3 && s.charAt(end) >= '0' && s.charAt(end) <= '7') {
                            end++;
                        }
                        out.append((char) Integer.parseInt(s.substring(i, end), 8));
                        i = end - 1;
                    } else {
                        out.append('\\').append(e);
                    }
                }
            }
        }
        return out.toString();
    }

    /** Python's {@code str.isspace()} for one code point. */
    static boolean isSpace(int cp) {
        return switch (cp) {
            case '\t', '\n', 0x0B, 0x0C, '\r', 0x1C, 0x1D, 0x1E, 0x1F, ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                    0x202F, 0x205F, 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200A;
        };
    }

    /** {@code str.strip(chars)} on either side; {@code chars == null} strips whitespace. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end) {
                int cp = s.codePointAt(start);
                if (!stripped(cp, chars)) {
                    break;
                }
                start += Character.charCount(cp);
            }
        }
        if (right) {
            while (end > start) {
                int cp = s.codePointBefore(end);
                if (!stripped(cp, chars)) {
                    break;
                }
                end -= Character.charCount(cp);
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(cp) >= 0;
    }

    private static boolean affix(String s, Object affix, boolean prefix) {
        if (affix instanceof Collection<?> options) { // Python takes a tuple of choices
            for (Object o : options) {
                if (affix(s, o, prefix)) {
                    return true;
                }
            }
            return false;
        }
        String a = string(affix, prefix ? "startswith" : "endswith");
        return prefix ? s.startsWith(a) : s.endsWith(a);
    }

    /** {@code str.split(sep, maxsplit)}; {@code sep == null} splits on whitespace runs and drops empty parts. */
    static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                if (i >= n) {
                    return out;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(s.substring(i)); // the rest, trailing whitespace kept
                    return out;
                }
                int j = i;
                while (j < n && !isSpace(s.codePointAt(j))) {
                    j += Character.charCount(s.codePointAt(j));
                }
                out.add(s.substring(i, j));
                i = j;
            }
        }
        if (sep.isEmpty()) {
            throw new PyError("empty separator");
        }
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    /** {@code str.rsplit(sep, maxsplit)}: like split, counting splits from the right. */
    static List<String> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0) {
            return split(s, sep, -1);
        }
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && isSpace(s.codePointBefore(j))) {
                    j -= Character.charCount(s.codePointBefore(j));
                }
                if (j <= 0) {
                    break;
                }
                if (out.size() == maxsplit) {
                    out.add(s.substring(0, j));
                    break;
                }
                int i = j;
                while (i > 0 && !isSpace(s.codePointBefore(i))) {
                    i -= Character.charCount(s.codePointBefore(i));
                }
                out.add(s.substring(i, j));
                j = i;
            }
        } else {
            if (sep.isEmpty()) {
                throw new PyError("empty separator");
            }
            int end = s.length();
            while (out.size() < maxsplit) {
                int at = s.lastIndexOf(sep, end - sep.length());
                if (at < 0) {
                    break;
                }
                out.add(s.substring(at + sep.length(), end));
                end = at;
            }
            out.add(s.substring(0, end));
        }
        java.util.Collections.reverse(out);
        return out;
    }

    /** CPython's {@code do_title}: a cased character after a cased one is lowered, any other is titled. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (previousCased) {
                out.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
            } else {
                out.appendCodePoint(Character.toTitleCase(cp));
            }
            previousCased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
        }
        return out.toString();
    }

    /** Python 3.8+: the first character in title case, the rest lowered. */
    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return new String(Character.toChars(Character.toTitleCase(first)))
                + s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT);
    }

    static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        int done = 0;
        if (old.isEmpty()) { // Python inserts between code points, at most count times
            for (int i = 0; i <= s.length() && done < count; done++) {
                out.append(replacement);
                if (i == s.length()) {
                    from = i;
                    break;
                }
                int next = i + Character.charCount(s.codePointAt(i));
                out.append(s, i, next);
                i = next;
                from = i;
            }
            return out.append(s.substring(from)).toString();
        }
        while (done < count) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            out.append(s, from, at).append(replacement);
            from = at + old.length();
            done++;
        }
        return out.append(s.substring(from)).toString();
    }

    private static String join(String sep, Object iterable) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        for (Object o : PyValues.iterate(iterable, "str.join()")) {
            if (!(o instanceof CharSequence)) {
                throw new PyError("sequence item " + i + ": expected str instance, " + PyValues.typeName(o) + " found");
            }
            if (i++ > 0) {
                out.append(sep);
            }
            out.append(o);
        }
        return out.toString();
    }

    /** {@code str.find(sub)}: the code-point index of the first match, or -1. */
    private static long find(String s, String sub) {
        int at = s.indexOf(sub);
        return at < 0 ? -1 : s.codePointCount(0, at);
    }

    /** {@code str.count(sub)}: non-overlapping matches; an empty {@code sub} matches len(s) + 1 times. */
    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.codePointCount(0, s.length()) + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static Object required(Object value, List<Object> args, String method) {
        return required(value, args, method, 0);
    }

    private static Object required(Object value, List<Object> args, String method, int index) {
        if (args.size() <= index) {
            throw new PyError("str." + method + "() is missing its argument '" + METHODS.get(method).get(index) + "'");
        }
        return value;
    }

    private static String chars(Object o, String method) {
        return optString(o, method);
    }

    private static String optString(Object o, String method) {
        return o == null ? null : string(o, method);
    }

    private static String string(Object o, String method) {
        if (o instanceof CharSequence c) {
            return c.toString();
        }
        throw new PyError("str." + method + "() needs a str argument, not " + PyValues.typeName(o));
    }

    private static int integer(Object o, String method) {
        if (o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte) {
            return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, ((Number) o).longValue()));
        }
        throw new PyError("str." + method + "() needs an int argument, not " + PyValues.typeName(o));
    }
}
