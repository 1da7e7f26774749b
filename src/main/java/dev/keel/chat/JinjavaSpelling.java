package dev.keel.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Respellings of jinja2 expressions that jinjava parses differently or not at all, for
 * {@link ExpressionRewriter}. Each works on a tag body and its mask (the body with string literals blanked,
 * {@link ExpressionRewriter#mask}), so it only ever matches code; what it writes holds no string literal, so
 * code and mask change alike.
 */
final class JinjavaSpelling {
    private static final Pattern NUMERIC_ATTRIBUTE = Pattern.compile("(?<=[A-Za-z_)\\]])\\.(\\d+)(?!\\w)");
    private static final Pattern KEYWORD_ARGUMENT = Pattern.compile("([(,])\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=(?!=)");

    private JinjavaSpelling() {}

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
            StringBuilder call = new StringBuilder("." + ExpressionRewriter.SLICE_METHOD + "(");
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
    static String[] tokens(String[] codeAndMask) {
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
        return ExpressionRewriter.isWordChar(before) || before == ')' || before == ']' || before == '\'' || before == '"';
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

    /**
     * Parentheses around the value of each keyword argument ({@code namespace(n=xs|length - 1)}): jinjava ends
     * the value at the first binary operator after a filter, jinja2 at the next comma.
     */
    static void keywordArguments(String m, List<int[]> inserts) {
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
                    return c == '(' && i > 0 && ExpressionRewriter.isWordChar(m.charAt(i - 1));
                }
                depth--;
            }
        }
        return false;
    }
}
