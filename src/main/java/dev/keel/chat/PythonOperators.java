package dev.keel.chat;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.AstDict;
import com.hubspot.jinjava.el.ext.CollectionMembershipOperator;
import com.hubspot.jinjava.el.ext.CollectionNonMembershipOperator;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.misc.BooleanOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

import dev.keel.KeelException;

/**
 * Python's {@code +} and {@code in} for jinjava, which is lenient where jinja2 raises: jinjava's {@code +} joins a
 * str with anything (a list prints as Java prints it) and appends any value to a list; its {@code in} is false for
 * a None container. jinja2 evaluates both with Python's operators, which raise TypeError. jinjava fixes its
 * operators in its expression parser, so Keel gives the engine a parser of its own ({@link #install}) that builds
 * these two operators instead; everything else is jinjava's.
 */
final class PythonOperators {
    private PythonOperators() {}

    /** Replaces the engine's expression factory by one whose parser builds Python's {@code +} and {@code in}. */
    static void install(Jinjava engine) {
        Properties p = new Properties();
        p.setProperty(TreeBuilder.class.getName(), SyntaxBuilder.class.getName());
        try {
            Field f = Jinjava.class.getDeclaredField("expressionFactory");
            f.setAccessible(true);
            f.set(engine, new ExpressionFactoryImpl(p, new TruthyTypeConverter()));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new KeelException("cannot set up the chat template engine (jinjava " + Jinjava.class.getPackage()
                    .getImplementationVersion() + "): " + e, e);
        }
    }

    /** jinjava's syntax with {@link PythonParser}; public for jinjava, which creates it by name. */
    public static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        public SyntaxBuilder() {
            super();
        }

        public SyntaxBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new PythonParser(this, expression);
        }
    }

    private static final class PythonParser extends ExtendedParser {
        PythonParser(Builder context, String input) {
            super(context, input);
        }

        @Override
        protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
            AstBinary.Operator op = operator == AdditionOperator.OP ? ADD
                    : operator == AstBinary.EQ ? EQ : operator == AstBinary.NE ? NE : operator;
            return super.createAstBinary(left, right, op);
        }

        @Override
        protected AstBracket createAstBracket(AstNode base, AstNode property, boolean lvalue, boolean strict) {
            return new UndefinedLookups.Bracket(base, property, lvalue, strict,
                    context.isEnabled(Builder.Feature.IGNORE_RETURN_TYPE));
        }

        @Override
        protected AstDot createAstDot(AstNode base, String property, boolean lvalue) {
            return new UndefinedLookups.Dot(base, property, lvalue);
        }

        @Override
        protected AstDict createAstDict(Map<AstNode, AstNode> dict) {
            return new PyDict(dict);
        }

        @Override
        protected ExtensionHandler getExtensionHandler(Scanner.Token token) {
            ExtensionHandler h = super.getExtensionHandler(token);
            if (h == CollectionMembershipOperator.HANDLER) {
                return membership(IN);
            }
            if (h == CollectionNonMembershipOperator.HANDLER) {
                return membership(NOT_IN);
            }
            return h;
        }

        private static ExtensionHandler membership(AstBinary.Operator op) {
            return new ExtensionHandler(ExtensionPoint.CMP) {
                @Override
                public AstNode createAstNode(AstNode... children) {
                    return new AstBinary(children[0], children[1], op);
                }
            };
        }
    }

    /**
     * A dict literal whose keys are evaluated as jinja2 evaluates them ({@code {0: 'a', n: 'b'}} has the int 0 and
     * n's value as keys); jinjava makes every key a string, so that {@code |dictsort} sorted 512 after 1024.
     */
    private static final class PyDict extends AstDict {
        private final Map<AstNode, AstNode> entries;

        PyDict(Map<AstNode, AstNode> entries) {
            super(entries);
            this.entries = entries;
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Map<Object, Object> out = new LinkedHashMap<>();
            entries.forEach((k, v) -> out.put(k.eval(bindings, context), v.eval(bindings, context)));
            return out;
        }
    }

    /** Python's {@code a + b}: numbers add, str + str and list + list join; anything else is a TypeError. */
    static final AstBinary.Operator ADD = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            boolean aNumber = a instanceof Number || a instanceof Boolean;
            boolean bNumber = b instanceof Number || b instanceof Boolean;
            if (a instanceof CharSequence && b instanceof CharSequence) {
                return a.toString() + b;
            }
            if (a instanceof Collection<?> x && b instanceof Collection<?> y) {
                List<Object> out = new ArrayList<>(x);
                out.addAll(y);
                return out;
            }
            if (aNumber && bNumber) {
                if (a instanceof Double || a instanceof Float || b instanceof Double || b instanceof Float) {
                    return number(a).doubleValue() + number(b).doubleValue();
                }
                return Math.addExact(number(a).longValue(), number(b).longValue());
            }
            if (a instanceof CharSequence || a instanceof Collection) {
                String type = PyValues.typeName(a);
                throw new PyError("can only concatenate " + type + " (not \"" + PyValues.typeName(b) + "\") to " + type);
            }
            throw new PyError("unsupported operand type(s) for +: '" + PyValues.typeName(a) + "' and '"
                    + PyValues.typeName(b) + "'");
        }

        @Override
        public String toString() {
            return "+";
        }
    };

    /** {@code ==} with {@link PyNone#NONE} equal to the template's {@code none}. */
    static final AstBinary.Operator EQ = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return BooleanOperations.eq(converter, PyNone.isNone(a) ? null : a, PyNone.isNone(b) ? null : b);
        }

        @Override
        public String toString() {
            return "==";
        }
    };

    static final AstBinary.Operator NE = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return BooleanOperations.ne(converter, PyNone.isNone(a) ? null : a, PyNone.isNone(b) ? null : b);
        }

        @Override
        public String toString() {
            return "!=";
        }
    };

    /** Python's {@code a in b}: a substring of a str, a key of a dict, an item of a list; else a TypeError. */
    static final AstBinary.Operator IN = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return contains(converter, a, b);
        }

        @Override
        public String toString() {
            return "in";
        }
    };

    static final AstBinary.Operator NOT_IN = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return !contains(converter, a, b);
        }

        @Override
        public String toString() {
            return "not in";
        }
    };

    private static Number number(Object x) {
        return x instanceof Boolean b ? (b ? 1L : 0L) : (Number) x;
    }

    private static boolean contains(TypeConverter converter, Object item, Object container) {
        if (container instanceof CharSequence s) {
            if (!(item instanceof CharSequence i)) {
                throw new PyError("'in <string>' requires string as left operand, not " + PyValues.typeName(item));
            }
            return s.toString().contains(i);
        }
        if (container instanceof Map || container instanceof Collection || container instanceof Object[]) {
            return Boolean.TRUE.equals(CollectionMembershipOperator.OP.apply(converter, item, container));
        }
        throw new PyError("argument of type '" + PyValues.typeName(container) + "' is not iterable");
    }
}
