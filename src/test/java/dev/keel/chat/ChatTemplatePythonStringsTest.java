package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Python string methods and operators that chat templates use; each expected value is what /usr/bin/python3
 * prints for the same expression (lists printed with repr of their items, as jinja2 prints them).
 */
class ChatTemplatePythonStringsTest {
    static String render(String template) {
        return ChatTemplate.of(template, Map.of()).render(List.of(Map.of("role", "user", "content", "hi")), false, Map.of());
    }

    @Test
    void stripRemovesWhitespaceOnBothSides() {
        assertEquals("[a b]", render("[{{ '  a b \\n'.strip() }}]"));
    }

    @Test
    void stripWithCharsRemovesThoseCharacters() {
        assertEquals("hi", render("{{ 'xxhixyx'.strip('xy') }}"));
    }

    @Test
    void stripKnowsPythonsUnicodeWhitespace() {
        // U+00A0 and U+3000 are whitespace to str.isspace(); Java's String.strip() keeps U+00A0
        assertEquals("[x]", render("[{{ '\\u00a0 x \\u3000'.strip() }}]"));
    }

    @Test
    void lstripRemovesLeadingWhitespaceOnly() {
        assertEquals("[a b  ]", render("[{{ '  a b  '.lstrip() }}]"));
    }

    @Test
    void lstripWithCharsRemovesLeadingNewlines() {
        assertEquals("[hi\n]", render("[{{ '\\n\\nhi\\n'.lstrip('\\n') }}]"));
    }

    @Test
    void rstripRemovesTrailingWhitespaceOnly() {
        assertEquals("[  a b]", render("[{{ '  a b \\t\\n'.rstrip() }}]"));
    }

    @Test
    void rstripWithCharsRemovesAnyOfThem() {
        assertEquals("hi", render("{{ 'hi!!?'.rstrip('!?') }}"));
    }

    @Test
    void startswithTakesAPrefixOrATupleOfThem() {
        assertEquals("True False True", render("{{ '<tool_response>x'.startswith('<tool_response>') }} "
                + "{{ 'abc'.startswith('b') }} {{ 'abc'.startswith(('x', 'a')) }}"));
    }

    @Test
    void endswithTakesASuffix() {
        assertEquals("True False", render("{{ 'x</tool_response>'.endswith('</tool_response>') }} {{ 'abc'.endswith('b') }}"));
    }

    @Test
    void splitWithASeparatorKeepsEmptyParts() {
        // Java's String.split would drop the trailing empty string
        assertEquals("['a', '', 'b', '']", render("{{ 'a,,b,'.split(',') }}"));
    }

    @Test
    void splitWithMaxsplitStopsAfterThatManySplits() {
        assertEquals("['a', 'b,c'] ['a', 'b,c']", render("{{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.split(',', maxsplit=1) }}"));
    }

    @Test
    void splitWithoutASeparatorSplitsOnWhitespaceRuns() {
        assertEquals("['a', 'b', 'c']", render("{{ '  a  b\\tc \\n'.split() }}"));
    }

    @Test
    void splitWithoutASeparatorAndAMaxsplitKeepsTheRestAsIs() {
        assertEquals("['a', 'b c ']", render("{{ ' a  b c '.split(none, 1) }}"));
    }

    @Test
    void splitThenNegativeIndexTakesTheLastPartAsQwen3Does() {
        assertEquals("[answer]", render("[{{ '<think>\\nhmm\\n</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}]"));
    }

    @Test
    void rsplitCountsSplitsFromTheRight() {
        assertEquals("['a.b', 'c']", render("{{ 'a.b.c'.rsplit('.', 1) }}"));
    }

    @Test
    void upperUsesFullCaseMapping() {
        assertEquals("STRASSE", render("{{ 'Straße'.upper() }}"));
    }

    @Test
    void lowerLowersNonAsciiLetters() {
        assertEquals("àb", render("{{ 'ÀB'.lower() }}"));
    }

    @Test
    void titleCapitalisesAfterEveryNonLetterAsPythonDoes() {
        assertEquals("Hello World It'S 2Nd", render("{{ \"hello wORLD it's 2nd\".title() }}"));
    }

    @Test
    void capitalizeUppercasesTheFirstLetterAndLowersTheRest() {
        assertEquals("Hello world", render("{{ 'hELLO wORLD'.capitalize() }}"));
    }

    @Test
    void replaceReplacesEveryOccurrence() {
        assertEquals("a+b+c", render("{{ 'a-b-c'.replace('-', '+') }}"));
    }

    @Test
    void replaceWithACountReplacesThatMany() {
        assertEquals("a+b-c", render("{{ 'a-b-c'.replace('-', '+', 1) }}"));
    }

    @Test
    void joinJoinsStrings() {
        assertEquals("a, b", render("{{ ', '.join(['a', 'b']) }}"));
    }

    @Test
    void findAndCountWorkInCodePoints() {
        assertEquals("1 2 2", render("{{ 'banana'.find('an') }} {{ 'banana'.count('an') }} {{ 'h😀llo'.find('l') }}"));
    }

    @Test
    void inTestsForASubstring() {
        assertEquals("True False True", render("{{ '/think' in 'be brief /think' }} {{ 'x' in 'abc' }} {{ 'x' not in 'abc' }}"));
    }

    @Test
    void plusConcatenatesStrings() {
        assertEquals("<|im_start|>user\nhi", render("{{ '<|im_start|>' + messages[0].role + '\\n' + messages[0].content }}"));
    }

    @Test
    void indexingAStringCountsFromEitherEnd() {
        assertEquals("h i", render("{{ 'hi'[0] }} {{ 'hi'[-1] }}"));
    }

    @Test
    void aStepSliceReversesAString() {
        assertEquals("cba", render("{{ 'abc'[::-1] }}"));
    }
}
