package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.keel.KeelException;

/**
 * {@code +} and {@code in} behave as Python's operators, as in jinja2 (outputs and messages checked with
 * Python jinja2 3.1.2): they work on matching types and raise TypeError otherwise, where jinjava would join a
 * string with a list's Java text or call a None container empty.
 */
class ChatTemplatePythonOperatorsTest {
    static String render(String template) {
        return ChatTemplate.of(template, Map.of()).render(List.of(), false, Map.of());
    }

    static String error(String template) {
        return assertThrows(KeelException.class, () -> render(template)).getMessage();
    }

    @Test
    void plusAddsNumbersAndJoinsStringsAndLists() {
        // True counts as 1, as in Python
        assertEquals("ab|3|2.5|[1, 2]|2", render("{{ 'a' + 'b' }}|{{ 1 + 2 }}|{{ 1.5 + 1 }}|{{ [1] + [2] }}|{{ true + 1 }}"));
    }

    @Test
    void plusOfAStringAndAnythingElseIsATypeError() {
        assertEquals("chat template error at line 1: can only concatenate str (not \"list\") to str", error("{{ 'a' + [1] }}"));
        assertEquals("chat template error at line 1: can only concatenate str (not \"NoneType\") to str",
                error("{{ 'a' + none }}"));
        assertEquals("chat template error at line 1: can only concatenate list (not \"str\") to list", error("{{ [1] + 'a' }}"));
        assertEquals("chat template error at line 1: unsupported operand type(s) for +: 'int' and 'str'", error("{{ 1 + 'a' }}"));
    }

    @Test
    void inFindsSubstringsKeysAndItems() {
        assertEquals("True|True|True|True", render("{{ 'a' in 'cat' }}|{{ 'k' in {'k': 1} }}|{{ 'z' not in ['x'] }}|{{ 2 in [1, 2] }}"));
    }

    @Test
    void inNoneOrANumberInAStringIsATypeError() {
        assertEquals("chat template error at line 1: argument of type 'NoneType' is not iterable", error("{{ 'a' in none }}"));
        assertEquals("chat template error at line 1: 'in <string>' requires string as left operand, not int",
                error("{{ 1 in 'a' }}"));
    }
}
