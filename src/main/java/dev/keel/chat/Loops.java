package dev.keel.chat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * For loops respelled for jinjava, for {@link TemplateSource}: every loop iterates a list {@code keel_forN}
 * made by the function {@code keel_iter(E)} (Python's iteration: a str's characters, a dict's keys), so that its
 * else part, its filter ({@code for x in xs if c}, counted as jinja2 counts) and {@code loop.previtem} /
 * {@code loop.nextitem} (which jinjava's loop lacks) can be written in terms of it.
 */
final class Loops {
    private static final Pattern NEIGHBOUR = Pattern.compile("\\bloop\\.(previtem|nextitem)\\b");

    private Loops() {}

    /**
     * {@code loop.previtem} and {@code loop.nextitem} as items of the innermost loop's list {@code keel_forN};
     * none at either end.
     */
    static String neighbours(String body, int forId) {
        String masked = ExpressionRewriter.mask(body);
        if (!masked.contains("loop.previtem") && !masked.contains("loop.nextitem")) {
            return body;
        }
        String list = "keel_for" + forId;
        StringBuilder out = new StringBuilder();
        Matcher m = NEIGHBOUR.matcher(masked);
        int last = 0;
        while (m.find()) {
            out.append(body, last, m.start()).append(m.group(1).equals("previtem")
                    ? "(" + list + "[loop.index0 - 1] if loop.index0 > 0 else none)"
                    : "(" + list + "[loop.index] if not loop.last else none)");
            last = m.end();
        }
        return out.append(body.substring(last)).toString();
    }

    /**
     * The jinjava tags for {@code {% for ... %}} (body after "for" from {@code afterFor}): the list, then the loop.
     *
     * @throws PyError for a loop jinja2 would refuse or Keel cannot run
     */
    static String forTag(String body, int afterFor, int id, ExpressionRewriter rewriter, String trailing) {
        String masked = ExpressionRewriter.mask(body);
        int in = ExpressionRewriter.keyword(masked, "in", afterFor);
        if (in < 0) {
            throw new PyError("expected 'in' in a for loop");
        }
        if (ExpressionRewriter.keyword(masked, "recursive", in + 2) >= 0) {
            throw new PyError("recursive loops are not supported by Keel's template engine (jinjava)");
        }
        String target = body.substring(afterFor, in).trim();
        int filter = ExpressionRewriter.keyword(masked, "if", in + 2);
        // a call, not "(E)|keel_iter": jinjava reads "({'a': 1, 'b': 2}|dictsort)" as a one-item tuple
        String iterable = TemplateSource.ITER_FUNCTION + "("
                + rewriter.rewrite(body.substring(in + 2, filter < 0 ? body.length() : filter)) + ")";
        String list = "keel_for" + id;
        String head;
        if (filter < 0) {
            head = "{% set " + list + " = " + iterable + " %}";
        } else { // jinja2 filters before counting (loop.index, loop.last): collect the kept items first
            String names = target.replaceAll("^\\(|\\)$", "");
            String item = names.contains(",") ? "[" + names + "]" : names;
            head = "{% set " + list + " = namespace(items=[]) %}{% for " + target + " in " + iterable + " %}{% if "
                    + rewriter.rewrite(body.substring(filter + 2)) + " %}{% set " + list + ".items = " + list
                    + ".items + [" + item + "] %}{% endif %}{% endfor %}{% set " + list + " = " + list + ".items %}";
        }
        return head + "{% for " + target + " in " + list + " " + trailing + "%}";
    }
}
