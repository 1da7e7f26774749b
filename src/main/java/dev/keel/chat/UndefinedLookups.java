package dev.keel.chat;

import java.util.List;
import java.util.Map;

import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

/**
 * Lookups ({@code x[k]}, {@code x.k}) that raise as jinja2's do when their base is itself an undefined lookup:
 * in jinja2 {@code messages[0]} of no messages is Undefined, and {@code messages[0]['role']} raises
 * UndefinedError ("list object has no element 0"), while jinjava gives None all along. Keel has one value for
 * None and undefined, so it tells them apart where jinja2's Undefined comes from: a list index out of range, a
 * key a dict lacks, an attribute of None. {@link PythonOperators}' parser builds these nodes for every lookup.
 */
final class UndefinedLookups {
    private UndefinedLookups() {}

    /** Why {@code base[key]} is undefined in jinja2, or null when it is a value (None included). */
    static String missing(Object base, Object key) {
        if (PyNone.isNone(base)) {
            return "'None' has no attribute '" + key + "'";
        }
        if (base instanceof List<?> list && key instanceof Number n) {
            long i = n.longValue() < 0 ? n.longValue() + list.size() : n.longValue();
            return i < 0 || i >= list.size() ? "list object has no element " + n.longValue() : null;
        }
        if (base instanceof Map<?, ?> map && key instanceof CharSequence && !map.containsKey(key.toString())) {
            return "'dict object' has no attribute '" + key + "'";
        }
        return null;
    }

    /** Raises jinja2's UndefinedError when the base of a lookup is an undefined lookup. */
    static void checkBase(AstNode prefix, Bindings bindings, ELContext context) {
        if (prefix instanceof Lookup lookup) {
            String why = lookup.missing(bindings, context);
            if (why != null && prefix.eval(bindings, context) == null) {
                throw new PyError(why);
            }
        }
    }

    interface Lookup {
        /** Why this lookup is undefined in jinja2, or null. */
        String missing(Bindings bindings, ELContext context);
    }

    static final class Bracket extends AstBracket implements Lookup {
        Bracket(AstNode base, AstNode property, boolean lvalue, boolean strict, boolean ignoreReturnType) {
            super(base, property, lvalue, strict, ignoreReturnType);
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Object value = super.eval(bindings, context);
            if (value == null) {
                checkBase(prefix, bindings, context);
            }
            return value;
        }

        @Override
        public String missing(Bindings bindings, ELContext context) {
            return UndefinedLookups.missing(prefix.eval(bindings, context), getProperty(bindings, context));
        }
    }

    static final class Dot extends AstDot implements Lookup {
        Dot(AstNode base, String property, boolean lvalue) {
            super(base, property, lvalue);
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Object value = super.eval(bindings, context);
            if (value == null) {
                checkBase(prefix, bindings, context);
            }
            return value;
        }

        @Override
        public String missing(Bindings bindings, ELContext context) {
            return UndefinedLookups.missing(prefix.eval(bindings, context), property);
        }
    }
}
