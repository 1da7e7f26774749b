package dev.keel.chat;

import java.time.Clock;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.expression.ExpressionStrategy;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.filter.LengthFilter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.mode.ExecutionMode;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.output.RenderedOutputNode;
import com.hubspot.jinjava.tree.parse.ExpressionToken;
import jinjava.javax.el.CompositeELResolver;

import dev.keel.KeelException;

/**
 * The jinjava engine set up as transformers sets up jinja2 for chat templates
 * ({@code _compile_jinja_template}): the globals {@code raise_exception} and {@code strftime_now}, the
 * {@code tojson} filter with {@code json.dumps} semantics, the {@code {% generation %}} tag (rendered as its
 * body, as transformers does unless it tracks assistant tokens), Python's string methods, and values printed as
 * Python prints them. Also replaced, to match jinja2: {@code trim} (Python whitespace), {@code length} and
 * {@code count} (code points), {@code string}, {@code indent}, {@code dictsort}, {@code format}; added: {@code items}, and the function {@code keel_iter}, which
 * {@link TemplateSource} puts on every for loop so it iterates as Python does. Nested interpretation is off: a
 * message that contains {@code {{ ... }}} is text, never template code.
 *
 * <p>The public static methods are what templates call; they are public only so jinjava can reach them.
 */
public final class TemplateEngine {
    /** Context key of the {@link Clock} for {@code strftime_now}; not a valid template identifier. */
    static final String CLOCK_KEY = "keel.clock";
    /** The global functions transformers adds; also set as variables so that {@code is defined} finds them. */
    static final List<String> GLOBALS = List.of("raise_exception", "strftime_now");

    private static final Jinjava ENGINE = create();

    private TemplateEngine() {}

    static Jinjava engine() {
        return ENGINE;
    }

    private static Jinjava create() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(false) // applied exactly by TemplateSource instead
                .withLstripBlocks(false)
                // no -/+ markers reach jinjava, but without this it still reads "{{ -1 }}" as "{{- 1 }}"
                .withLegacyOverrides(LegacyOverrides.newBuilder().withParseWhitespaceControlStrictly(true).build())
                .withNestedInterpretationEnabled(false)
                .withEnableRecursiveMacroCalls(true) // jinja2 macros may call themselves
                .withMaxMacroRecursionDepth(1000)
                .withElResolver(resolver)
                .withExecutionMode(new PythonOutputMode())
                .build();
        Jinjava j = new Jinjava(config);
        PythonOperators.install(j);
        Context g = j.getGlobalContext();
        g.registerFunction(new ELFunctionDefinition("", "raise_exception", TemplateEngine.class, "raiseException",
                Object.class));
        g.registerFunction(new ELFunctionDefinition("", "strftime_now", TemplateEngine.class, "strftimeNow",
                String.class));
        g.registerFunction(new ELFunctionDefinition("", TemplateSource.ITER_FUNCTION, TemplateEngine.class, "iterable",
                Object.class));
        g.registerFilter(new ToJson());
        g.registerFilter(new Simple("trim", (v, args) -> PyStrings.strip(v == null ? "" : PyValues.str(v),
                args.isEmpty() || args.get(0) == null ? null : PyValues.str(args.get(0)), true, true)));
        g.registerFilter(new Simple("length", (v, args) -> length(v)));
        g.registerFilter(new Simple("count", (v, args) -> length(v)));
        g.registerFilter(new Simple("string", (v, args) -> v == null ? "" : PyValues.str(v)));
        g.registerFilter(new Simple("items", (v, args) -> items(v)));
        g.registerFilter(new PyFilters.Indent());
        g.registerFilter(new PyFilters.DictSort());
        g.registerFilter(new PyFilters.Format());
        g.registerExpTest(new PyFilters.Iterable());
        g.registerExpTest(new PyFilters.IsNone());
        g.registerTag(new GenerationTag());
        return j;
    }

    /** Whether the engine has a filter of that name. */
    static boolean hasFilter(String name) {
        Filter f = ENGINE.getGlobalContext().getFilter(name);
        return f != null && !(f instanceof PyFilters.Missing);
    }

    /** Registers a filter that raises jinja2's error for an unknown filter, unless one of that name exists. */
    static synchronized void missingFilter(String name) {
        if (ENGINE.getGlobalContext().getFilter(name) == null) {
            ENGINE.getGlobalContext().registerFilter(new PyFilters.Missing(name));
        }
    }

    /** A render error as Keel reports it: raise_exception's own message, else the line and what went wrong. */
    static KeelException error(TemplateError e) {
        for (Throwable c = e.getException(); c != null; c = c.getCause()) {
            if (c instanceof TemplateEngine.Raised raised) {
                return new KeelException("chat template raised an exception: " + raised.getMessage());
            }
            if (c instanceof PyError py) {
                return new KeelException("chat template error at line " + e.getLineno() + ": " + py.getMessage());
            }
        }
        String kind = e.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR ? "syntax error" : "error";
        return new KeelException("chat template " + kind + " at line " + e.getLineno() + ": " + e.getMessage());
    }

    /** transformers' {@code raise_exception(message)}: stops rendering with the template's own message. */
    public static Object raiseException(Object message) {
        throw new Raised(PyValues.str(message));
    }

    /** transformers' {@code strftime_now(format)}: {@code datetime.now().strftime(format)}. */
    public static String strftimeNow(String format) {
        Object clock = JinjavaInterpreter.getCurrent() == null ? null
                : JinjavaInterpreter.getCurrent().getContext().get(CLOCK_KEY);
        return Strftime.format(LocalDateTime.now(clock instanceof Clock c ? c : Clock.systemDefaultZone()), format);
    }

    /** Thrown by {@code raise_exception}; {@link ChatTemplate} finds it in jinjava's error and reports its message. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message);
        }
    }

    private static Object length(Object v) {
        if (v == null) {
            return 0L;
        }
        if (v instanceof CharSequence s) {
            return (long) s.toString().codePointCount(0, s.length());
        }
        if (v instanceof Map<?, ?> m) {
            return (long) m.size();
        }
        if (v instanceof Collection<?> c) {
            return (long) c.size();
        }
        if (v instanceof Object[] a) {
            return (long) a.length;
        }
        if (v.getClass().isArray() || v instanceof Iterable) {
            return new LengthFilter().filter(v, JinjavaInterpreter.getCurrent());
        }
        throw new PyError("object of type '" + PyValues.typeName(v) + "' has no len()");
    }

    /** What a Python for loop iterates: a str's characters, a dict's keys; nothing for an undefined value. */
    public static Object iterable(Object v) {
        if (v == null) {
            return List.of();
        }
        if (v instanceof CharSequence || v instanceof Map) {
            List<Object> out = new ArrayList<>();
            PyValues.iterate(v, "for").forEach(out::add);
            return out;
        }
        if (v instanceof Iterable || v instanceof Object[] || v.getClass().isArray()) {
            return v;
        }
        throw new PyError("'" + PyValues.typeName(v) + "' object is not iterable");
    }

    private static List<Object> items(Object v) {
        List<Object> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!(v instanceof Map<?, ?> m)) {
            throw new PyError("items: can only get item pairs from a mapping, not " + PyValues.typeName(v));
        }
        m.forEach((k, val) -> out.add(Arrays.asList(k, val)));
        return out;
    }

    private interface Body {
        Object apply(Object value, List<Object> args);
    }

    /** A filter with positional arguments only. */
    private record Simple(String name, Body body) implements Filter {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (!kwargs.isEmpty()) {
                throw new PyError(name + "() got an unexpected keyword argument '" + kwargs.keySet().iterator().next() + "'");
            }
            return body.apply(var, Arrays.asList(args));
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }
    }

    /** transformers' {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object[] bound = new Object[PyJson.PARAMETERS.size()];
            if (args.length > bound.length) {
                throw new PyError("tojson() takes at most " + bound.length + " arguments (" + args.length + " given)");
            }
            System.arraycopy(args, 0, bound, 0, args.length);
            kwargs.forEach((k, v) -> {
                int at = PyJson.PARAMETERS.indexOf(k);
                if (at < 0) {
                    throw new PyError("tojson() got an unexpected keyword argument '" + k + "'");
                }
                bound[at] = v;
            });
            return new PyJson(truthy(bound[0]), bound[1], bound[2], truthy(bound[3])).dumps(var);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        private static boolean truthy(Object o) {
            return o instanceof Boolean b ? b : o != null && !(o instanceof Number n && n.doubleValue() == 0);
        }
    }

    /** transformers' {@code {% generation %}...{% endgeneration %}}: a call block that renders its body. */
    private static final class GenerationTag implements Tag {
        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            try (JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope()) {
                for (Node child : tagNode.getChildren()) {
                    out.append(child.render(interpreter).getValue());
                }
            }
            return out.toString();
        }
    }

    /** Prints {@code {{ x }}} as Python's {@code str(x)}; an undefined or None value prints nothing. */
    private static final class PythonOutput implements ExpressionStrategy {
        @Override
        public RenderedOutputNode interpretOutput(ExpressionToken master, JinjavaInterpreter interpreter) {
            Object value = interpreter.resolveELExpression(master.getExpr(), master.getLineNumber());
            return new RenderedOutputNode(value == null ? "" : PyValues.str(value));
        }
    }

    private static final class PythonOutputMode implements ExecutionMode {
        @Override
        public void prepareContext(Context context) {
            context.setExpressionStrategy(new PythonOutput());
        }
    }
}
