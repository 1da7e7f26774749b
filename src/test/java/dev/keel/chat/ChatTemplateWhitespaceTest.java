package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * jinja2's whitespace rules as transformers sets them (trim_blocks, lstrip_blocks, keep_trailing_newline off),
 * each expected string worked out from the jinja2 lexer's rules.
 */
class ChatTemplateWhitespaceTest {
    static String render(String template) {
        return ChatTemplate.of(template, Map.of()).render(List.of(Map.of("role", "user", "content", "hi")), false, Map.of());
    }

    @Test
    void trimBlocksDropsTheNewlineAfterABlockTag() {
        assertEquals("yes\nafter", render("{% if true %}\nyes\n{% endif %}\nafter"));
    }

    @Test
    void theNewlineAfterAnExpressionStays() {
        assertEquals("a\nb", render("{{ 'a' }}\nb"));
    }

    @Test
    void lstripBlocksDropsIndentationBeforeABlockTag() {
        assertEquals("x", render("  \t{% if true %}x{% endif %}"));
    }

    @Test
    void lstripBlocksKeepsSpacesAfterTextOnTheSameLine() {
        // jinjava's own lstrip_blocks would print "ab"
        assertEquals("a b", render("a {% if true %}b{% endif %}"));
    }

    @Test
    void lstripBlocksKeepsSpacesAfterAnExpressionOnTheSameLine() {
        assertEquals("a  b", render("{{ 'a' }}  {% if true %}b{% endif %}"));
    }

    @Test
    void lstripBlocksLeavesIndentationBeforeAnExpression() {
        assertEquals("  x", render("  {{ 'x' }}"));
    }

    @Test
    void lstripBlocksAppliesOnTheLineATrimmedTagEnded() {
        assertEquals("x", render("{% if true %}\n  {% if true %}x{% endif %}{% endif %}"));
    }

    @Test
    void aMinusStripsAllWhitespaceIncludingNewlinesOnItsSide() {
        assertEquals("ab", render("a  \n\t{%- if true -%}  \n b{% endif %}"));
    }

    @Test
    void aMinusOnAnExpressionStripsBothSides() {
        assertEquals("axb", render("a \n {{- 'x' -}} \n b"));
    }

    @Test
    void aPlusKeepsTheIndentationLstripBlocksWouldDrop() {
        assertEquals("  x", render("  {%+ if true %}x{% endif %}"));
    }

    @Test
    void aPlusAtTheEndKeepsTheNewlineTrimBlocksWouldDrop() {
        assertEquals("\nx", render("{% if true +%}\nx{% endif %}"));
    }

    @Test
    void oneTrailingNewlineOfTheTemplateIsDropped() {
        assertEquals("a", render("a\n"));
        assertEquals("a\n", render("a\n\n"));
    }

    @Test
    void aCommentOnItsOwnLineLeavesNothing() {
        assertEquals("x", render("  {# a note #}\nx"));
    }

    @Test
    void windowsNewlinesInTheTemplateBecomeNewlines() {
        assertEquals("x\n", render("{% if true %}\r\nx\r\n{% endif %}\r\n"));
    }

    @Test
    void anIndentedLoopBodyKeepsItsIndentationAndNewline() {
        assertEquals("  user\n", render("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n"));
    }

    @Test
    void rawBlocksAreCopiedAsText() {
        assertEquals("{{ x }} {% if %}", render("{% raw %}{{ x }} {% if %}{% endraw %}"));
    }

    @Test
    void delimitersInsideStringLiteralsDoNotEndATag() {
        assertEquals("%}}}{{#}", render("{{ '%}' ~ \"}}\" ~ '{{' ~ '#}' }}"));
    }

    @Test
    void bracesClosingNestedDictsDoNotEndATag() {
        assertEquals("1", render("{{ {'a': {'b': 1}}['a']['b'] }}"));
    }
}
