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

    private static final Pattern NUMERIC_ATTRIBUTE = Pattern.compile("(?<=[A-Za-z_)\\]])\\.(\\d+)(?!\\w)");
    private static final Pattern NOT = Pattern.compile("\\bnot\\b");
    private static final Pattern KEYWORD_ARGUMENT = Pattern.compile("([(,])\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=(?!=)");
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
        String[] sliced = jinjavaTokens(slices(body, mask(body)));
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

    /**
     * Code and mask with every slice ({@code x[a:b]}, {@code x[a:b:c]}, any expressions, slices inside them too)
     * made a call {@code x.keel_slice(a, b, c)}, which jinjava parses whatever the bounds are (its own slice
     * syntax takes no arithmetic and no step), and numeric attributes ({@code m.content.0}) made subscripts.
     * Replacements hold no string literal, so code and mask change alike.
     */
    static String[] slices(String code, String mask) {
        StringBuilder c = new StringBuilder();
        StringBuilder m = new StringBuilder();
        int i = 0;
        while (i < mask.length()) {
            char ch = mask.charAt(i);
            int close = ch == '[' && i > 0 && isSubscripted(mask.charAt(i - 1)) ? matching(mask, i) : -1;
            List<Integer> colons = close < 0 ? List.of() : topLevel(mask, i + 1, close, ':');
            if (colons.isEmpty() || colons.size() > 2) {
                c.append(code.charAt(i));
                m.append(ch);
                i++;
                continue;
            }
            List<Integer> cuts = new ArrayList<>(colons);
            cuts.add(0, i);
            cuts.add(close);
            StringBuilder call = new StringBuilder("." + SLICE_METHOD + "(");
            StringBuilder callMask = new StringBuilder(call);
            for (int k = 0; k < 3; k++) {
                String[] part = k + 1 < cuts.size()
                        ? slices(code.substring(cuts.get(k) + 1, cuts.get(k + 1)), mask.substring(cuts.get(k) + 1, cuts.get(k + 1)))
                        : new String[] {"", ""};
                boolean empty = part[1].isBlank();
                call.append(k > 0 ? ", " : "").append(empty ? "null" : "(" + part[0] + ")");
                callMask.append(k > 0 ? ", " : "").append(empty ? "null" : "(" + part[1] + ")");
            }
            c.append(call).append(')');
            m.append(callMask).append(')');
            i = close + 1;
        }
        String numericCode = NUMERIC_ATTRIBUTE.matcher(m).replaceAll("[$1]");
        if (numericCode.length() == m.length()) {
            return new String[] {c.toString(), m.toString()};
        }
        // the same replacement on the code, at the places found in the mask (string literals are blanked there)
        StringBuilder out = new StringBuilder();
        Matcher num = NUMERIC_ATTRIBUTE.matcher(m);
        int last = 0;
        while (num.find()) {
            out.append(c, last, num.start()).append('[').append(num.group(1)).append(']');
            last = num.end();
        }
        out.append(c.substring(last));
        return new String[] {out.toString(), numericCode};
    }

    /**
     * Two spellings jinjava tokenizes unlike jinja2, respelled: {@code x+1} (jinjava reads a number "+1" and fails)
     * gets a space after the {@code +}; a dict literal in parentheses ({@code ({'a': 1, 'b': 2})}, which jinjava
     * reads as a one-item tuple) loses the parentheses, unless they are a call's.
     */
    private static String[] jinjavaTokens(String[] codeAndMask) {
        StringBuilder c = new StringBuilder(codeAndMask[0]);
        StringBuilder m = new StringBuilder(codeAndMask[1]);
        for (int i = m.length() - 1; i >= 0; i--) { // inner first, so that (({...})) loses both pairs
            if (m.charAt(i) != '(' || i > 0 && isSubscripted(m.charAt(i - 1))) {
                continue;
            }
            int open = i + 1;
            while (open < m.length() && m.charAt(open) == ' ') {
                open++;
            }
            int close = open < m.length() && m.charAt(open) == '{' ? matching(m.toString(), open) : -1;
            int end = close < 0 ? -1 : close + 1;
            while (end > 0 && end < m.length() && m.charAt(end) == ' ') {
                end++;
            }
            if (end > 0 && end < m.length() && m.charAt(end) == ')') {
                c.setCharAt(i, ' ');
                m.setCharAt(i, ' ');
                c.setCharAt(end, ' ');
                m.setCharAt(end, ' ');
            }
        }
        for (int i = m.length() - 2; i >= 0; i--) {
            if (m.charAt(i) == '+' && Character.isDigit(m.charAt(i + 1))) {
                c.insert(i + 1, ' ');
                m.insert(i + 1, ' ');
            }
        }
        return new String[] {c.toString(), m.toString()};
    }

    /** Whether a {@code [} after this character subscripts (a name, a call, a subscript or a string literal). */
    private static boolean isSubscripted(char before) {
        return isWordChar(before) || before == ')' || before == ']' || before == '\'' || before == '"';
    }

    /** The index of the bracket closing the one at {@code open} in a masked body; -1 if none. */
    private static int matching(String m, int open) {
        int depth = 0;
        for (int i = open; i < m.length(); i++) {
            char c = m.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Positions of {@code what} at the top bracket level of {@code m} between from and to. */
    private static List<Integer> topLevel(String m, int from, int to, char what) {
        List<Integer> out = new ArrayList<>();
        int depth = 0;
        for (int i = from; i < to; i++) {
            char c = m.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && c == what) {
                out.add(i);
            }
        }
        return out;
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
        keywordArguments(m, inserts);
        inserts.sort((x, y) -> x[0] != y[0] ? Integer.compare(x[0], y[0]) : Integer.compare(y[1], x[1])); // ')' first
        return inserts;
    }

    /**
     * Parentheses around the value of each keyword argument ({@code namespace(n=xs|length - 1)}): jinjava ends
     * the value at the first binary operator after a filter, jinja2 at the next comma.
     */
    private static void keywordArguments(String m, List<int[]> inserts) {
        Matcher kw = KEYWORD_ARGUMENT.matcher(m);
        while (kw.find()) {
            int open = kw.start(1);
            if (m.charAt(open) != '(' && m.charAt(open) != ',') {
                continue;
            }
            if (!insideCall(m, open)) {
                continue;
            }
            int from = kw.end();
            int depth = 0;
            int i = from;
            for (; i < m.length(); i++) {
                char c = m.charAt(i);
                if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if (c == ')' || c == ']' || c == '}') {
                    if (depth-- == 0) {
                        break;
                    }
                } else if (depth == 0 && c == ',') {
                    break;
                }
            }
            int end = i;
            while (end > from && Character.isWhitespace(m.charAt(end - 1))) {
                end--;
            }
            if (end > from) {
                inserts.add(new int[] {from, '('});
                inserts.add(new int[] {end, ')'});
            }
        }
    }

    /** Whether the bracket or comma at {@code at} belongs to the argument list of a call ({@code f(}). */
    private static boolean insideCall(String m, int at) {
        int depth = 0;
        for (int i = at; i >= 0; i--) {
            char c = m.charAt(i);
            if (c == ')' || c == ']' || c == '}') {
                depth++;
            } else if (c == '(' || c == '[' || c == '{') {
                if (depth == 0) {
                    return c == '(' && i > 0 && isWordChar(m.charAt(i - 1));
                }
                depth--;
            }
        }
        return false;
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

    private static boolean isWordChar(char c) {
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
            String raw = body.substring(i + 1, j);
            out.append(q);
            for (char c : PyStrings.unescape(raw).toCharArray()) {
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
            out.append(q).append("\n".repeat((int) raw.chars().filter(ch -> ch == '\n').count()));
            i = j;
        }
        return out.toString();
    }
}
