package dev.keel.chat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;

/**
 * Filters and tests whose jinjava versions differ from jinja2's, rewritten from jinja2 3.1's {@code filters.py}
 * and {@code tests.py}; {@link TemplateEngine} registers them in place of jinjava's.
 */
final class PyFilters {
    private PyFilters() {}

    /** jinja2's {@code indent(s, width=4, first=False, blank=False)}; a string width is the indent itself. */
    static final class Indent implements Filter {
        private static final List<String> PARAMETERS = List.of("width", "first", "blank");

        @Override
        public String getName() {
            return "indent";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object[] bound = {4L, false, false};
            if (args.length > bound.length) {
                throw new PyError("do_indent() takes from 1 to 4 positional arguments but " + (args.length + 1) + " were given");
            }
            System.arraycopy(args, 0, bound, 0, args.length);
            kwargs.forEach((k, v) -> {
                int at = PARAMETERS.indexOf(k);
                if (at < 0) {
                    throw new PyError("do_indent() got an unexpected keyword argument '" + k + "'");
                }
                bound[at] = v;
            });
            String indent = bound[0] instanceof CharSequence cs ? cs.toString()
                    : " ".repeat((int) ((Number) bound[0]).longValue());
            return indent(var == null ? "" : PyValues.str(var), indent, PyValues.truthy(bound[1]), PyValues.truthy(bound[2]));
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        static String indent(String s, String indent, boolean first, boolean blank) {
            List<String> lines = splitlines(s + "\n"); // jinja2 appends "\n" before splitlines
            StringBuilder rv = new StringBuilder();
            if (blank) {
                rv.append(String.join("\n" + indent, lines));
            } else {
                rv.append(lines.get(0));
                for (String line : lines.subList(1, lines.size())) {
                    rv.append('\n').append(line.isEmpty() ? line : indent + line);
                }
            }
            return first ? indent + rv : rv.toString();
        }
    }

    /** A filter the engine does not have, used in a branch: raises when reached, as jinja2 3.1 does. */
    record Missing(String getName) implements Filter {
        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            throw new PyError("No filter named '" + getName + "' found.");
        }
    }

    /** Python's {@code str.splitlines()}: every line boundary Python knows, {@code \r\n} as one. */
    static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e
                    || c == 0x85 || c == 0x2028 || c == 0x2029) {
                out.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    /** jinja2's {@code is iterable}: whatever {@code iter()} accepts, strings and mappings included. */
    static final class Iterable implements ExpTest {
        @Override
        public String getName() {
            return "iterable";
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var instanceof CharSequence || var instanceof Map || var instanceof Collection
                    || var instanceof java.lang.Iterable || var != null && var.getClass().isArray();
        }
    }
}
