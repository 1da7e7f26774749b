package dev.keel.tokenizer;

import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.keel.KeelException;

/**
 * Applies Python jinja2's lexer-level rules to a template before jinjava parses it, as transformers configures
 * jinja2: newlines normalised to {@code \n}, one trailing newline dropped ({@code keep_trailing_newline=False}),
 * {@code trim_blocks} (the newline after a block or comment tag goes), {@code lstrip_blocks} (spaces and tabs
 * from the start of a line up to a block or comment tag go), and {@code -}/{@code +} whitespace control. These
 * rules only ever delete template text next to a tag, so they can be applied here exactly; jinjava then gets a
 * template with no whitespace control left and renders it with its own trimming off. (Measured: jinjava's
 * {@code withLstripBlocks} also strips spaces before a tag that does not start its line, so "a {% if x %}"
 * loses its space; jinja2 keeps it.) Every deleted newline is kept where it is insignificant (inside the
 * preceding tag, or an empty comment), so jinjava's line numbers in errors match the original template.
 *
 * <p>Inside tags it also rewrites what jinjava cannot parse: a slice with a step ({@code messages[::-1]},
 * Qwen3's templates) becomes a call that {@link PythonResolver} serves, and {@code }}} closing nested dicts gets
 * a space so jinjava does not take it for the end of the tag. It records the filter and test names used, so a
 * missing one is reported before rendering, as jinja2 reports it when compiling.
 */
final class TemplateSource {
    /** The method name a step slice {@code x[a:b:c]} becomes: {@code x.keel_slice(a, b, c)}. */
    static final String SLICE_METHOD = "keel_slice";

    private static final Pattern STEP_SLICE =
            Pattern.compile("\\[\\s*(-?\\d+)?\\s*:\\s*(-?\\d+)?\\s*:\\s*(-?\\d+)?\\s*]");
    private static final Pattern FILTER = Pattern.compile("\\|\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern RAW_BEGIN = Pattern.compile("\\s*raw\\s*(-?)%}");
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");

    /** The source for jinjava, and the filter and test names it uses. */
    record Prepared(String source, Set<String> filters, Set<String> tests) {}

    private final String s;
    private final StringBuilder out;
    private final Set<String> filters = new TreeSet<>();
    private final Set<String> tests = new TreeSet<>();
    private boolean lineStarting = true; // jinja2: the last token ended with a newline

    private TemplateSource(String s) {
        this.s = s;
        this.out = new StringBuilder(s.length() + 64);
    }

    static Prepared prepare(String template) {
        String s = template.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        TemplateSource t = new TemplateSource(s);
        t.run();
        return new Prepared(t.out.toString(), t.filters, t.tests);
    }

    private void run() {
        int pos = 0;
        while (pos < s.length()) {
            int start = nextTagStart(pos);
            if (start < 0) {
                out.append(s, pos, s.length());
                return;
            }
            char kind = s.charAt(start + 1);
            char sign = sign(start + 2);
            String text = s.substring(pos, start);
            String kept = leftStrip(text, sign, kind != '{');
            out.append(kept);
            int newlinesBefore = newlines(text.substring(kept.length()));
            if (newlinesBefore > 0) { // keep them in an empty comment, so the tag stays on its own line
                out.append("{#").append("\n".repeat(newlinesBefore)).append("#}");
            }
            int bodyStart = start + 2 + (sign != 0 ? 1 : 0);
            Matcher raw = RAW_BEGIN.matcher(s).region(bodyStart, s.length());
            if (kind == '#') {
                pos = comment(start, bodyStart);
            } else if (kind == '%' && raw.lookingAt()) {
                pos = raw(start, raw);
            } else {
                pos = tag(start, kind, bodyStart);
            }
        }
    }

    private int nextTagStart(int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    private char sign(int at) {
        char c = at < s.length() ? s.charAt(at) : 0;
        return c == '-' || c == '+' ? c : 0;
    }

    /** The data before a tag after jinja2's {@code -} or {@code lstrip_blocks} rule. */
    private String leftStrip(String text, char sign, boolean blockLike) {
        if (sign == '-') {
            return PyStrings.strip(text, null, false, true);
        }
        if (sign == '+' || !blockLike) {
            return text;
        }
        int lineStart = text.lastIndexOf('\n') + 1;
        if ((lineStart > 0 || lineStarting) && lineStart < text.length()
                && text.substring(lineStart).codePoints().allMatch(PyStrings::isSpace)) {
            return text.substring(0, lineStart);
        }
        return text;
    }

    /** Where the data after a tag resumes: {@code -} eats all whitespace, trim_blocks one newline. */
    private int rightStrip(int after, char sign, boolean blockLike) {
        int i = after;
        if (sign == '-') {
            while (i < s.length() && PyStrings.isSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
        } else if (sign == 0 && blockLike && i < s.length() && s.charAt(i) == '\n') {
            i++;
        }
        lineStarting = i > after && s.charAt(i - 1) == '\n';
        return i;
    }

    private int comment(int start, int bodyStart) {
        int end = s.indexOf("#}", bodyStart);
        if (end < 0) {
            throw syntaxError(start, "missing end of comment tag");
        }
        char endSign = end - 1 >= bodyStart ? sign(end - 1) : 0;
        int after = rightStrip(end + 2, endSign, true);
        // the comment's own text is dropped; its newlines are kept for line numbers
        int lines = newlines(s.substring(bodyStart, end)) + newlines(s.substring(end + 2, after));
        out.append("{#").append("\n".repeat(lines)).append("#}");
        return after;
    }

    /** {@code {% raw %}...{% endraw %}}: no trim_blocks after raw (as in jinja2), the content kept as is. */
    private int raw(int start, Matcher begin) {
        char beginSign = begin.group(1).isEmpty() ? 0 : '-';
        int contentStart = rightStrip(begin.end(), beginSign, false);
        Matcher end = RAW_END.matcher(s);
        if (!end.find(contentStart)) {
            throw syntaxError(start, "missing end of raw directive");
        }
        String content = s.substring(contentStart, end.start());
        String kept = leftStrip(content, sign(end.start() + 2), true);
        char endSign = end.group(2).isEmpty() ? 0 : end.group(2).charAt(0);
        int after = rightStrip(end.end(), endSign, true);
        out.append("{% raw ")
                .append("\n".repeat(newlines(s.substring(begin.end(), contentStart)))).append("%}")
                .append(kept).append("{%").append("\n".repeat(newlines(content.substring(kept.length()))))
                .append(" endraw ").append("\n".repeat(newlines(s.substring(end.end(), after)))).append("%}");
        return after;
    }

    private int tag(int start, char kind, int bodyStart) {
        int end = tagEnd(bodyStart, kind);
        if (end < 0) {
            throw syntaxError(start, "unclosed '{" + kind + "' tag (no matching '" + (kind == '%' ? "%}" : "}}") + "')");
        }
        char endSign = sign(end);
        int close = end + (endSign != 0 ? 1 : 0);
        int after = rightStrip(close + 2, endSign, kind == '%');
        String body;
        try {
            body = rewriteBody(s.substring(bodyStart, end));
        } catch (PyError e) {
            throw syntaxError(start, e.getMessage());
        }
        out.append('{').append(kind).append(' ').append(body).append(' ')
                .append("\n".repeat(newlines(s.substring(close + 2, after)))).append(kind == '%' ? "%}" : "}}");
        return after;
    }

    /** Where a tag's closing delimiter (or its {@code -}/{@code +}) starts, outside strings and brackets. */
    private int tagEnd(int from, char kind) {
        char quote = 0;
        int depth = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (depth == 0 && kind == '%' && (c == '%' || c == '-' || c == '+')
                    && s.startsWith(c == '%' ? "}" : "%}", i + 1)) {
                return i;
            } else if (depth == 0 && kind == '{' && (c == '}' || c == '-')
                    && s.startsWith(c == '}' ? "}" : "}}", i + 1)) {
                return i;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                depth--;
            }
        }
        return -1;
    }

    private String rewriteBody(String body) {
        String masked = mask(body);
        StringBuilder b = new StringBuilder();
        StringBuilder m = new StringBuilder();
        Matcher slice = STEP_SLICE.matcher(masked);
        int last = 0;
        while (slice.find()) {
            String call = "." + SLICE_METHOD + "(" + orNull(slice.group(1)) + ", " + orNull(slice.group(2)) + ", "
                    + orNull(slice.group(3)) + ")";
            b.append(body, last, slice.start()).append(call);
            m.append(masked, last, slice.start()).append(call);
            last = slice.end();
        }
        b.append(body.substring(last));
        m.append(masked.substring(last));
        // "}}" / "{{" inside an expression are two braces; keep jinjava from reading them as a delimiter
        StringBuilder spaced = new StringBuilder();
        for (int i = 0; i < b.length(); i++) {
            spaced.append(b.charAt(i));
            char c = m.charAt(i);
            if ((c == '}' || c == '{') && i + 1 < m.length() && m.charAt(i + 1) == c) {
                spaced.append(' ');
            }
        }
        collect(FILTER.matcher(m), filters);
        collect(TEST.matcher(m), tests);
        return reencodeStrings(spaced.toString());
    }

    /**
     * Rewrites each string literal from Python's escapes (jinja2 decodes literals as {@code unicode-escape}: hex,
     * 4- and 8-digit unicode, named and octal escapes; a backslash before any other character stays) to the few
     * escapes jinjava reads (newline, tab, carriage return, backspace, form feed, backslash, the quote); every
     * other character goes in as itself. Newlines written inside a literal move after it, so line numbers stay.
     */
    private String reencodeStrings(String body) {
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
            out.append(q).append("\n".repeat(newlines(raw)));
            i = j;
        }
        return out.toString();
    }

    private static String orNull(String group) {
        return group == null ? "null" : group;
    }

    private static void collect(Matcher m, Set<String> into) {
        while (m.find()) {
            into.add(m.group(1));
        }
    }

    /** The body with the inside of string literals blanked, so patterns only match code. */
    private static String mask(String body) {
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

    private static int newlines(String text) {
        return (int) text.chars().filter(ch -> ch == '\n').count();
    }

    private KeelException syntaxError(int at, String what) {
        return new KeelException("chat template syntax error at line " + (1 + newlines(s.substring(0, at))) + ": " + what);
    }
}
