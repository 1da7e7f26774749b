package dev.keel.chat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.hubspot.jinjava.util.HasObjectTruthValue;

/**
 * Python's None where the template's data has it: a JSON null (a tool-call turn's {@code "content": null}) and the
 * {@code tools=None, documents=None} transformers always passes. jinjava has only Java's null, which it treats as
 * undefined; jinja2 tells them apart: None is defined, prints "None", is falsy, and iterating it or adding it to a
 * string raises TypeError. Keel's filters, tests and operators treat {@link #NONE} as None; the template's own
 * {@code none} literal stays Java's null.
 */
final class PyNone implements HasObjectTruthValue {
    static final PyNone NONE = new PyNone();

    private PyNone() {}

    /** A value for the engine: the same maps and lists, with every null made {@link #NONE}. */
    static Object wrap(Object value) {
        if (value == null) {
            return NONE;
        }
        if (value instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(k, wrap(v)));
            return out;
        }
        if (value instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>(c.size());
            c.forEach(v -> out.add(wrap(v)));
            return out;
        }
        return value;
    }

    /** Whether a value is None: Java's null (the template's {@code none}) or {@link #NONE}. */
    static boolean isNone(Object value) {
        return value == null || value == NONE;
    }

    @Override
    public boolean getObjectTruthValue() {
        return false;
    }

    @Override
    public String toString() {
        return "None";
    }
}
