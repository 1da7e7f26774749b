package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Filters and literals whose jinjava versions differ from jinja2's (outputs checked with Python jinja2 3.1.2). */
class ChatTemplateFiltersTest {
    static String render(String template) {
        return ChatTemplate.of(template, Map.of()).render(List.of(), false, Map.of());
    }

    @Test
    void dictLiteralKeysKeepTheirTypeSoDictsortOrdersNumbersByValue() {
        // Seed-OSS's thinking-budget table: 512 sorts before 1024 (jinjava made the keys strings)
        assertEquals("0:0 512:128 1024:256 16384:1 |128|{0: 0, 512: 128, 1024: 256, 16384: 1}",
                render("{% set d = {0: 0, 512: 128, 1024: 256, 16384: 1} %}{% for k, v in d|dictsort %}{{ k }}:{{ v }} "
                        + "{% endfor %}|{{ d[512] }}|{{ d }}"));
    }

    @Test
    void dictsortIgnoresCaseUnlessAskedAndSortsByValueOnRequest() {
        assertEquals("a2B1|B1a2|a2B1", render("{% for k, v in {'B': 1, 'a': 2}|dictsort %}{{ k }}{{ v }}{% endfor %}|"
                + "{% for k, v in {'B': 1, 'a': 2}|dictsort(true) %}{{ k }}{{ v }}{% endfor %}|"
                + "{% for k, v in {'B': 1, 'a': 2}|dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %}"));
    }

    @Test
    void formatIsPythonsPercentFormatting() {
        // %r is repr, %5.2f pads to five, %% is a percent sign; an undefined argument prints as nothing
        assertEquals("a-3-'b'- 2.50|%|", render("{{ '%s-%d-%r-%5.2f|%%' | format('a', 3, 'b', 2.5) }}|{{ '%s' | format(x) }}"));
    }

    @Test
    void adjacentStringLiteralsAreOneStringAsInPython() {
        // vLLM's DeepSeek-R1 tool template spreads its tool prompt over several literals in one namespace(...)
        assertEquals("abc|one two", render("{{ 'a' 'b' \"c\" }}|{% set ns = namespace(text='one '\n 'two') %}{{ ns.text }}"));
    }
}
