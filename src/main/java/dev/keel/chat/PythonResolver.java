package dev.keel.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.hubspot.jinjava.el.ext.NamedParameter;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Gives template expressions Python's behaviour where jinjava would call Java's: methods on strings
 * ({@code s.strip()}, see {@link PyStrings}), {@code d.get(key, default)}, indexing a string
 * ({@code s[-1]}), step slices ({@link ExpressionRewriter#SLICE_METHOD}), and it refuses the methods that modify a
 * list or dict, as transformers' {@code ImmutableSandboxedEnvironment} does. Sits before jinjava's own
 * resolvers; anything it does not handle falls through to them.
 */
final class PythonResolver extends ELResolver {
    private static final Set<String> LIST_MUTATORS =
            Set.of("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse");
    private static final Set<String> DICT_MUTATORS = Set.of("clear", "pop", "popitem", "setdefault", "update");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null) {
            return null;
        }
        String name = method.toString();
        Object[] ps = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof CharSequence s && PyStrings.has(name)) {
            result = PyStrings.call(s.toString(), name, bind("str." + name, ps, PyStrings.parameterNames(name)));
        } else if (name.equals(ExpressionRewriter.SLICE_METHOD)
                && (base instanceof CharSequence || base instanceof Collection || base instanceof Object[])) {
            result = slice(base, ps);
        } else if (base instanceof Map<?, ?> m && name.equals("get") && (ps.length == 1 || ps.length == 2)) {
            result = m.containsKey(ps[0]) ? m.get(ps[0]) : ps.length == 2 ? ps[1] : null;
        } else if (base instanceof Map && DICT_MUTATORS.contains(name)
                || (base instanceof Collection || base instanceof Object[]) && LIST_MUTATORS.contains(name)) {
            throw new PyError("access to attribute '" + name + "' of '" + PyValues.typeName(base)
                    + "' object is unsafe (templates may not modify their inputs)");
        } else {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** Positional arguments, with keyword arguments ({@code split(",", maxsplit=1)}) put in their places. */
    private static List<Object> bind(String method, Object[] params, List<String> names) {
        List<Object> args = new ArrayList<>();
        for (Object p : params) {
            if (!(p instanceof NamedParameter)) {
                args.add(p);
            }
        }
        for (Object p : params) {
            if (p instanceof NamedParameter np) {
                int at = names.indexOf(np.getName());
                if (at < 0) {
                    throw new PyError(method + "() got an unexpected keyword argument '" + np.getName() + "'");
                }
                while (args.size() <= at) {
                    args.add(null);
                }
                args.set(at, np.getValue());
            }
        }
        return args;
    }

    /** Python's {@code x[start:stop:step]} on a str or a list. */
    private static Object slice(Object base, Object[] ps) {
        List<Object> items = new ArrayList<>();
        PyValues.iterate(base, "slice").forEach(items::add); // a str yields its code points
        long n = items.size();
        long step = ps.length > 2 && ps[2] != null ? ((Number) ps[2]).longValue() : 1;
        if (step == 0) {
            throw new PyError("slice step cannot be zero");
        }
        long start = bound(ps.length > 0 ? ps[0] : null, n, step, step < 0 ? n - 1 : 0);
        long stop = bound(ps.length > 1 ? ps[1] : null, n, step, step < 0 ? -1 : n);
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.add(items.get((int) i));
        }
        if (base instanceof CharSequence) {
            StringBuilder b = new StringBuilder();
            out.forEach(b::append);
            return b.toString();
        }
        return out;
    }

    /** CPython's {@code PySlice_AdjustIndices} for one bound. */
    private static long bound(Object value, long n, long step, long dflt) {
        if (value == null) {
            return dflt;
        }
        long v = ((Number) value).longValue();
        if (v < 0) {
            v += n;
            if (v < 0) {
                v = step < 0 ? -1 : 0;
            }
        } else if (v >= n) {
            v = step < 0 ? n - 1 : n;
        }
        return v;
    }

    /** {@code s[i]} on a string (negative from the end); out of range is undefined, as in jinja2. */
    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (base == PyNone.NONE) { // None.attr is undefined in jinja2
            context.setPropertyResolved(true);
            return null;
        }
        if (!(base instanceof CharSequence cs) || property == null) {
            return null;
        }
        long index;
        try {
            index = property instanceof Number num ? num.longValue() : Long.parseLong(property.toString());
        } catch (NumberFormatException e) {
            return null;
        }
        String s = cs.toString();
        int n = s.codePointCount(0, s.length());
        long i = index < 0 ? index + n : index;
        context.setPropertyResolved(true);
        if (i < 0 || i >= n) {
            return null;
        }
        int at = s.offsetByCodePoints(0, (int) i);
        return new String(Character.toChars(s.codePointAt(at)));
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // not handled here
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
