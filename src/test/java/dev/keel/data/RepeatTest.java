package dev.keel.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;

class RepeatTest {
    @Test
    void eachItemRepeatsInARowPromptMajor() {
        assertEquals(List.of("a", "a", "a", "b", "b", "b"), Repeat.each(List.of("a", "b"), 3));
        assertThrows(IllegalArgumentException.class, () -> Repeat.each(List.of("a"), 0));
    }
}
