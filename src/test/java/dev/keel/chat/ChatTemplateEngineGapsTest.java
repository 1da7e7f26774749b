package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Eleven one-line differences from jinja2 measured on real templates, each with the output written by hand
 * from jinja2's rules and checked with Python jinja2 3.1.2 (transformers' environment: trim_blocks,
 * lstrip_blocks).
 */
class ChatTemplateEngineGapsTest {
    static String render(String template, Map<String, Object> vars) {
        return ChatTemplate.of(template, Map.of()).render(List.of(), false, vars);
    }

    static String render(String template) {
        return render(template, Map.of());
    }

    @Test
    void aLiteralBraceJustBeforeAStrippingBlockTagStaysText() {
        // "{-%" strips the space, leaving "{" right before the tag; jinja2 has already lexed it as text
        assertEquals("{x}", render("{ {%- if true %}x{% endif %}}"));
        assertEquals("{x}", render("{ {{- 'x' }}}"));
    }

    @Test
    void unbracketedArithmeticInAKeywordArgumentBindsAfterTheFilter() {
        // messages|length - 1 is (messages|length) - 1 = 3 - 1
        assertEquals("2", render("{% set ns = namespace(n=items|length - 1) %}{{ ns.n }}",
                Map.of("items", List.of(1, 2, 3))));
    }

    @Test
    void arithmeticInsideASliceIsEvaluated() {
        // [:1+1] keeps the first two items
        assertEquals("[1, 2]", render("{% set ns = namespace(i=1) %}{{ items[:ns.i+1] }}",
                Map.of("items", List.of(1, 2, 3))));
    }

    @Test
    void aNumericAttributeIndexesAList() {
        // m.content.0 is m.content[0] in jinja2's getattr-then-getitem lookup
        assertEquals("text", render("{{ m.content.0.type }}",
                Map.of("m", Map.of("content", List.of(Map.of("type", "text"))))));
    }

    @Test
    void indentWithFirstTrueIndentsTheFirstLineToo() {
        assertEquals("    a\n    b", render("{{ 'a\\nb' | indent(4, first=True) }}"));
    }

    @Test
    void anUnknownFilterInABranchThatNeverRunsIsNoError() {
        // jinja2 3.1 compiles an unknown filter inside a conditional to a runtime error, raised only if reached
        assertEquals("ok", render("{% if false %}{{ x | nosuchfilter }}{% endif %}ok"));
    }

    @Test
    void loopPrevitemAndNextitemAreTheNeighbours() {
        // undefined at either end prints as nothing
        assertEquals("-2;1-3;2-;", render("{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"));
    }

    @Test
    void aStringIsIterableANumberAndNoneAreNot() {
        assertEquals("True,False,False", render("{{ 'abc' is iterable }},{{ 1 is iterable }},{{ none is iterable }}"));
    }

    @Test
    void aParenthesisedDictLiteralIteratesOverItsKeys() {
        assertEquals("a;b;", render("{% for k in ({'a': 1, 'b': 2}) %}{{ k }};{% endfor %}"));
    }

    @Test
    void aRecursiveMacroRecursesToTheBottom() {
        assertEquals("3210", render("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"));
    }

    @Test
    void safeIsTheIdentityAndEscapedQuotesPrintAsQuotes() {
        // no autoescape in transformers' environment: |safe changes nothing, \' and \" are the quotes
        assertEquals("<b><i>a'bq\"q", render("{{ '<b>' | safe }}{{ '<i>' }}{{ 'a\\'b' }}{{ \"q\\\"q\" }}"));
    }
}
