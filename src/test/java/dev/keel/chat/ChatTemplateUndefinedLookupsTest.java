package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.keel.KeelException;

/**
 * A lookup on an undefined lookup raises jinja2's UndefinedError (outputs and messages checked with Python
 * jinja2 3.1.2): one missing level is undefined and prints nothing, the next one raises.
 */
class ChatTemplateUndefinedLookupsTest {
    static final Map<String, Object> VARS = Map.of("m", Map.of("content", List.of(Map.of("type", "text"))),
            "items", List.of(1L, 2L, 3L));

    static String render(String template) {
        return ChatTemplate.of(template, Map.of()).render(List.of(), false, VARS);
    }

    static String error(String template) {
        return assertThrows(KeelException.class, () -> render(template)).getMessage();
    }

    @Test
    void oneMissingLevelIsUndefinedAndPrintsNothing() {
        assertEquals("||3|", render("{{ m.nope }}|{{ m.content[5] }}|{{ items[-1] }}|{{ m.content[0].nope }}"));
    }

    @Test
    void aLookupOnAMissingKeyRaises() {
        assertEquals("chat template error at line 1: 'dict object' has no attribute 'nope'", error("{{ m.nope.x }}"));
    }

    @Test
    void aLookupOnAnIndexOutOfRangeRaisesAsMessagesZeroRoleDoesOnNoMessages() {
        assertEquals("chat template error at line 1: list object has no element 7", error("{{ items[7].role }}"));
        assertEquals("chat template error at line 1: list object has no element -4", error("{{ items[-4]['role'] }}"));
    }
}
