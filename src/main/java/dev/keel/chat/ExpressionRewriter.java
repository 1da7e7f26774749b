package dev.keel.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites the inside of one tag ({@code {{ ... }}} or {@code {% ... %}}) where jinjava would read a jinja2
 * expression differently, keeping its meaning:
 * <ul>
 * <li>string literals: Python's escapes decoded ({@code \x41}, {@code \N{BULLET}}, ...), re-written with the few
 * escapes jinjava reads;</li>
 * <li>{@code not}: jinja2 gives it lower precedence than comparisons ({@code not a == b} is
 * {@code not (a == b)}), jinjava higher; each operand of {@code not} is put in parentheses;</li>
 * <li>a slice ({@code messages[::-1]}, {@code messages[:ns.i+1]}), which jinjava cannot parse with a step or
 * with arithmetic, becomes {@code .keel_slice(start, stop, step)}, served by {@link PythonResolver};</li>
 * <li>a numeric attribute ({@code m.content.0}) becomes a subscript ({@code m.content[0]});</li>
 * <li>{@code }}} and {@code {{} between braces get a space, so jinjava does not take them for a delimiter.</li>
 * </ul>
 * It also records the filter and test names used. Patterns run on a masked copy in which the inside of string
 * literals is blanked, so they only ever match code.
 */
final class ExpressionRewriter {
    static final String SLICE_METHOD = "keel_slice";

    private static final Pattern NOT = Pattern.compile("\\bnot\\b");
    private static final Pattern FILTER = Pattern.compile("\\|\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z0-9_]*)");
    private static final Set<String> ENDS_NOT_OPERAND = Set.of("and", "or", "if", "else");

    private final Set<String> filters;
    private final Set<String> tests;

    ExpressionRewriter(Set<String> filters, Set<String> tests) {
        this.filters = filters;
        this.tests = tests;
    }

    /** The tag body for jinjava. */
    String rewrite(String body) {
        String[] sliced = JinjavaSpelling.tokens(JinjavaSpelling.slices(body, mask(body)));
        StringBuilder b = new StringBuilder(sliced[0]);
        StringBuilder m = new StringBuilder(sliced[1]);
        // 2. parentheses around the operand of each "not"; 3. a space between two braces
        List<int[]> inserts = notParentheses(m.toString());
        StringBuilder code = new StringBuilder();
        StringBuilder mask = new StringBuilder();
        int next = 0;
        for (int i = 0; i <= b.length(); i++) {
            while (next < inserts.size() && inserts.get(next)[0] == i) {
                code.append((char) inserts.get(next)[1]);
                mask.append((char) inserts.get(next)[1]);
                next++;
            }
            if (i == b.length()) {
                break;
            }
            code.append(b.charAt(i));
            mask.append(m.charAt(i));
            char c = m.charAt(i);
            if ((c == '}' || c == '{') && i + 1 < m.length() && m.charAt(i + 1) == c) {
                code.append(' ');
                mask.append(' ');
            }
        }
        collect(FILTER.matcher(mask), filters);
        collect(TEST.matcher(mask), tests);
        return reencodeStrings(code.toString());
    }

    /** Where to insert "(" and ")" (position, char), sorted, so that every {@code not} takes jinja2's operand. */
    private static List<int[]> notParentheses(String m) {
        List<int[]> inserts = new ArrayList<>();
        Matcher not = NOT.matcher(m);
        while (not.find()) {
            if (wordBefore(m, not.start()).equals("is") || wordAfter(m, not.end()).equals("in")) {
                continue; // "is not" and "not in" are operators of their own
            }
            int end = operandEnd(m, not.end());
            if (end > not.end()) {
                inserts.add(new int[] {not.end(), '('});
                inserts.add(new int[] {end, ')'});
            }
        }
        JinjavaSpelling.keywordArguments(m, inserts);
        inserts.sort((x, y) -> x[0] != y[0] ? Integer.compare(x[0], y[0]) : Integer.compare(y[1], x[1])); // ')' first
        return inserts;
    }

    /** The end of a {@code not} operand: the next and/or/if/else, comma or unmatched bracket at its level. */
    private static int operandEnd(String m, int from) {
        int depth = 0;
        int i = from;
        for (; i < m.length(); i++) {
            char c = m.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) {
                    break;
                }
                depth--;
            } else if (depth == 0 && c == ',') {
                break;
            } else if (depth == 0 && Character.isLetter(c) && (i == 0 || !isWordChar(m.charAt(i - 1)))
                    && ENDS_NOT_OPERAND.contains(wordAfter(m, i))) {
                break;
            }
        }
        while (i > from && Character.isWhitespace(m.charAt(i - 1))) {
            i--;
        }
        return i;
    }

    /** The first top-level occurrence of a keyword in a masked body, at or after {@code from}; -1 if none. */
    static int keyword(String m, String word, int from) {
        int depth = 0;
        for (int i = from; i < m.length(); i++) {
            char c = m.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && m.startsWith(word, i) && (i == 0 || !isWordChar(m.charAt(i - 1)))
                    && (i + word.length() == m.length() || !isWordChar(m.charAt(i + word.length())))) {
                return i;
            }
        }
        return -1;
    }

    private static String wordBefore(String m, int at) {
        int end = at;
        while (end > 0 && Character.isWhitespace(m.charAt(end - 1))) {
            end--;
        }
        int start = end;
        while (start > 0 && isWordChar(m.charAt(start - 1))) {
            start--;
        }
        return m.substring(start, end);
    }

    private static String wordAfter(String m, int at) {
        int start = at;
        while (start < m.length() && Character.isWhitespace(m.charAt(start))) {
            start++;
        }
        int end = start;
        while (end < m.length() && isWordChar(m.charAt(end))) {
            end++;
        }
        return m.substring(start, end);
    }

    static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    private static void collect(Matcher m, Set<String> into) {
        while (m.find()) {
            into.add(m.group(1));
        }
    }

    /** The body with the inside of string literals blanked (quotes kept), so patterns only match code. */
    static String mask(String body) {
        char[] c = body.toCharArray();
        char quote = 0;
        for (int i = 0; i < c.length; i++) {
            if (quote != 0) {
                if (c[i] == quote) {
                    quote = 0;
                    continue;
                }
                if (c[i] == '\\' && i + 1 < c.length) {
                    c[i++] = '_';
                }
                c[i] = '_';
            } else if (c[i] == '\'' || c[i] == '"') {
                quote = c[i];
            }
        }
        return new String(c);
    }

    /**
     * Rewrites each string literal from Python's escapes (jinja2 decodes literals as {@code unicode-escape}: hex,
     * 4- and 8-digit unicode, named and octal escapes; a backslash before any other character stays) to the few
     * escapes jinjava reads (newline, tab, carriage return, backspace, form feed, backslash, the quote); every
     * other character goes in as itself. Newlines written inside a literal move after it, so line numbers stay.
     */
    private static String reencodeStrings(String body) {
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char q = body.charAt(i);
            if (q != '\'' && q != '"') {
                out.append(q);
                continue;
            }
            int j = i + 1;
            while (j < body.length() && body.charAt(j) != q) {
                j += body.charAt(j) == '\\' ? 2 : 1;
            }
            if (j >= body.length()) { // unterminated: leave it for jinjava to report
                out.append(body.substring(i));
                break;
            }
            // adjacent literals are one string, as in Python: 'a' 'b' is 'ab'
            StringBuilder text = new StringBuilder(PyStrings.unescape(body.substring(i + 1, j)));
            int lines = newlines(body.substring(i + 1, j));
            for (int k = next(body, j + 1); k < body.length() && (body.charAt(k) == '\'' || body.charAt(k) == '"'); ) {
                char q2 = body.charAt(k);
                int end = k + 1;
                while (end < body.length() && body.charAt(end) != q2) {
                    end += body.charAt(end) == '\\' ? 2 : 1;
                }
                if (end >= body.length()) {
                    break;
                }
                lines += newlines(body.substring(j + 1, end));
                text.append(PyStrings.unescape(body.substring(k + 1, end)));
                j = end;
                k = next(body, j + 1);
            }
            out.append(q);
            for (char c : text.toString().toCharArray()) {
                switch (c) {
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    case '\\' -> out.append("\\\\");
                    default -> out.append(c == q ? "\\" + c : String.valueOf(c));
                }
            }
            out.append(q).append("\n".repeat(lines));
            i = j;
        }
        return out.toString();
    }

    /** The index of the first non-whitespace character at or after {@code from}. */
    private static int next(String body, int from) {
        int k = from;
        while (k < body.length() && Character.isWhitespace(body.charAt(k))) {
            k++;
        }
        return k;
    }

    private static int newlines(String s) {
        return (int) s.chars().filter(ch -> ch == '\n').count();
    }
}
