package dev.keel.chat;

import java.util.ArrayDeque;
import java.util.Deque;
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
 * <p>Tag bodies go through {@link ExpressionRewriter}. For loops are rewritten so they iterate as Python does
 * (a string gives its characters, a dict its keys; jinjava gives the whole string and the dict's values) and
 * so that {@code for ... else} works (jinjava renders the else part after every item):
 * {@code {% for x in E %}A{% else %}B{% endfor %}} becomes
 * {@code {% set keel_forN = keel_iter(E) %}{% for x in keel_forN %}A{% endfor %}{% if not keel_forN %}B{% endif %}}.
 * A loop filter ({@code for x in E if c}, which jinjava ignores) collects the kept items first, so
 * {@code loop.index} and {@code loop.last} count them as jinja2 does. Recursive loops are refused.
 */
final class TemplateSource {
    /** The function that makes a for loop iterate as Python does; registered by {@link TemplateEngine}. */
    static final String ITER_FUNCTION = "keel_iter";

    private static final Pattern RAW_BEGIN = Pattern.compile("\\s*raw\\s*(-?)%}");
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");
    private static final Pattern TAG_NAME = Pattern.compile("\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Set<String> BLOCKS =
            Set.of("for", "if", "macro", "call", "filter", "with", "block", "generation", "autoescape", "set");

    /**
     * The source for jinjava, and the filter and test names it uses. As in jinja2 3.1, an unknown filter is an
     * error when the template is compiled only outside any condition; {@code conditionalFilters} are those used
     * only inside an {@code if} (tag or expression), which fail when reached.
     */
    record Prepared(String source, Set<String> filters, Set<String> conditionalFilters, Set<String> tests) {}

    /** An open block tag; for a for loop, its number and whether its else part has begun. */
    private static final class Block {
        final String name;
        final int forId;
        boolean inElse;

        Block(String name, int forId) {
            this.name = name;
            this.forId = forId;
        }
    }

    private final String s;
    private final StringBuilder out;
    private final Set<String> filters = new TreeSet<>();
    private final Set<String> tests = new TreeSet<>();
    private final Set<String> conditionalFilters = new TreeSet<>();
    private final ExpressionRewriter unconditional = new ExpressionRewriter(filters, tests);
    private final ExpressionRewriter conditional = new ExpressionRewriter(conditionalFilters, tests);
    private ExpressionRewriter rewriter = unconditional;
    private final Deque<Block> blocks = new ArrayDeque<>();
    private int loops;
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
        t.conditionalFilters.removeAll(t.filters);
        return new Prepared(t.out.toString(), t.filters, t.conditionalFilters, t.tests);
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
            if (kept.endsWith("{")) { // "{ {%-" leaves "{" next to the tag: jinjava would read "{{"
                out.append(kept, 0, kept.length() - 1).append("{{ '{' }}");
            } else {
                out.append(kept);
            }
            int newlinesBefore = newlines(text.substring(kept.length()));
            if (newlinesBefore > 0) { // keep them in an empty comment, so the tag stays on its own line
                out.append("{#").append("\n".repeat(newlinesBefore)).append("#}");
            }
            int bodyStart = start + 2 + (sign != 0 ? 1 : 0);
            Matcher raw = kind == '%' ? RAW_BEGIN.matcher(s).region(bodyStart, s.length()) : null;
            if (kind == '#') {
                pos = comment(start, bodyStart);
            } else if (raw != null && raw.lookingAt()) {
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
        String trailing = "\n".repeat(newlines(s.substring(close + 2, after)));
        try {
            Block loop = blocks.stream().filter(b -> b.name.equals("for")).findFirst().orElse(null);
            String body = loop == null ? s.substring(bodyStart, end) : Loops.neighbours(s.substring(bodyStart, end), loop.forId);
            rewriter = blocks.stream().anyMatch(b -> b.name.equals("if"))
                    || ExpressionRewriter.keyword(ExpressionRewriter.mask(body), "if", 0) >= 0 ? conditional : unconditional;
            if (kind == '%') {
                out.append(block(start, body, trailing));
            } else {
                out.append("{{ ").append(rewriter.rewrite(body)).append(' ').append(trailing).append("}}");
            }
        } catch (PyError e) {
            throw syntaxError(start, e.getMessage());
        }
        return after;
    }

    /** A block tag for jinjava; tracks open blocks to rewrite for loops and their else parts. */
    private String block(int start, String body, String trailing) {
        Matcher nameMatch = TAG_NAME.matcher(body);
        String name = nameMatch.lookingAt() ? nameMatch.group(1) : "";
        Block top = blocks.peek();
        if (name.equals("for")) {
            int id = loops++;
            String tag = Loops.forTag(body, nameMatch.end(), id, rewriter, trailing);
            blocks.push(new Block("for", id));
            return tag;
        }
        if (name.equals("else") && top != null && top.name.equals("for")) {
            top.inElse = true;
            return "{% endfor " + trailing + "%}{% if not keel_for" + top.forId + " %}";
        }
        if (name.startsWith("end") && top != null && top.name.equals(name.substring(3))) {
            blocks.pop();
            if (top.inElse) {
                return "{% endif " + trailing + "%}";
            }
        } else if (BLOCKS.contains(name) && !(name.equals("set") && assigns(ExpressionRewriter.mask(body)))) {
            blocks.push(new Block(name, -1)); // "set x = ..." is not a block; "set x %}...{% endset" is
        }
        return "{% " + rewriter.rewrite(body) + " " + trailing + "%}";
    }

    /** Whether a masked tag body has a top-level {@code =} (not {@code ==}, {@code !=}, {@code <=}, {@code >=}). */
    private static boolean assigns(String m) {
        int depth = 0;
        for (int i = 0; i < m.length(); i++) {
            char c = m.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && c == '=' && (i == 0 || "=!<>".indexOf(m.charAt(i - 1)) < 0)
                    && (i + 1 == m.length() || m.charAt(i + 1) != '=')) {
                return true;
            }
        }
        return false;
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

    private static int newlines(String text) {
        return (int) text.chars().filter(ch -> ch == '\n').count();
    }

    private KeelException syntaxError(int at, String what) {
        return new KeelException("chat template syntax error at line " + (1 + newlines(s.substring(0, at))) + ": " + what);
    }
}
