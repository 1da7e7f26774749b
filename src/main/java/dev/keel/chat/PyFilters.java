package dev.keel.chat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
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

    /** jinja2's {@code dictsort(value, case_sensitive=False, by='key', reverse=False)}: (key, value) pairs sorted. */
    static final class DictSort implements Filter {
        private static final List<String> PARAMETERS = List.of("case_sensitive", "by", "reverse");

        @Override
        public String getName() {
            return "dictsort";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object[] bound = bind("dictsort", PARAMETERS, new Object[] {false, "key", false}, args, kwargs);
            if (!(var instanceof Map<?, ?> map)) {
                throw new PyError("dictsort: '" + PyValues.typeName(var) + "' object has no attribute 'items'");
            }
            boolean caseSensitive = PyValues.truthy(bound[0]);
            int pos = switch (String.valueOf(bound[1])) {
                case "key" -> 0;
                case "value" -> 1;
                default -> throw new PyError("You can only sort by either 'key' or 'value'");
            };
            List<List<Object>> items = new ArrayList<>();
            map.forEach((k, v) -> items.add(Arrays.asList(k, v)));
            Comparator<List<Object>> order = (a, b) -> compare(sortKey(a.get(pos), caseSensitive), sortKey(b.get(pos), caseSensitive));
            items.sort(PyValues.truthy(bound[2]) ? order.reversed() : order);
            return items;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        private static Object sortKey(Object x, boolean caseSensitive) {
            return x instanceof CharSequence cs && !caseSensitive ? cs.toString().toLowerCase(Locale.ROOT) : x;
        }
    }

    /** Python's {@code a < b} for sorting: numbers by value, strings by code point; else a TypeError. */
    static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return Double.compare(x.doubleValue(), y.doubleValue());
        }
        if (a instanceof CharSequence x && b instanceof CharSequence y) {
            return x.toString().compareTo(y.toString());
        }
        throw new PyError("'<' not supported between instances of '" + PyValues.typeName(a) + "' and '"
                + PyValues.typeName(b) + "'");
    }

    /** jinja2's {@code format(value, *args)}: Python's {@code value % args}. */
    static final class Format implements Filter {
        @Override
        public String getName() {
            return "format";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (!kwargs.isEmpty()) {
                throw new PyError("format() with keyword arguments is not supported by Keel's template engine");
            }
            return PyFormat.percent(var == null ? "" : PyValues.str(var), Arrays.asList(args));
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }
    }

    /** Positional and keyword arguments bound to a filter's parameters, over their defaults. */
    static Object[] bind(String name, List<String> parameters, Object[] defaults, Object[] args, Map<String, Object> kwargs) {
        Object[] bound = defaults.clone();
        if (args.length > bound.length) {
            throw new PyError(name + "() takes at most " + (bound.length + 1) + " arguments (" + (args.length + 1) + " given)");
        }
        System.arraycopy(args, 0, bound, 0, args.length);
        kwargs.forEach((k, v) -> {
            int at = parameters.indexOf(k);
            if (at < 0) {
                throw new PyError(name + "() got an unexpected keyword argument '" + k + "'");
            }
            bound[at] = v;
        });
        return bound;
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

    /** jinja2's {@code is none}: the template's {@code none} and the data's None ({@link PyNone}). */
    static final class IsNone implements ExpTest {
        @Override
        public String getName() {
            return "none";
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return PyNone.isNone(var);
        }
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
