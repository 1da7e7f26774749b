package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;

/** Loading a chat template, its variables, functions, filters and errors. */
class ChatTemplateTest {
    static final List<Map<String, Object>> HI = List.of(Map.of("role", "user", "content", "hi"));

    static String render(String template) {
        return render(template, Map.of());
    }

    static String render(String template, Map<String, Object> extra) {
        return ChatTemplate.of(template, Map.of()).render(HI, false, extra);
    }

    static ObjectNode config(String json) {
        return (ObjectNode) TestSupport.parse(json);
    }

    @Test
    void aStringChatTemplateInTokenizerConfigIsUsedWithItsSpecialTokens() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(config("{\"chat_template\": "
                + "\"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}\", "
                + "\"bos_token\": \"<s>\", \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"</s>\"}}"));
        assertEquals("<s>hi</s>", t.render(HI, false, Map.of()));
    }

    @Test
    void aListOfNamedTemplatesUsesTheOneNamedDefault() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(config("{\"chat_template\": ["
                + "{\"name\": \"rag\", \"template\": \"RAG\"}, {\"name\": \"default\", \"template\": \"DEFAULT\"},"
                + "{\"name\": \"tool_use\", \"template\": \"TOOLS {{ tools|length }}\"}]}"));
        assertEquals("DEFAULT", t.render(HI, true, Map.of()));
    }

    @Test
    void aListOfNamedTemplatesUsesToolUseWhenToolsAreGivenAsTransformersDoes() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(config("{\"chat_template\": ["
                + "{\"name\": \"default\", \"template\": \"DEFAULT\"},"
                + "{\"name\": \"tool_use\", \"template\": \"TOOLS {{ tools|length }}\"}]}"));
        assertEquals("TOOLS 1", t.render(HI, true, Map.of("tools", List.of(Map.of("name", "f")))));
    }

    @Test
    void aNamedListWithoutDefaultIsAnErrorListingTheNames() {
        KeelException e = assertThrows(KeelException.class, () -> ChatTemplate.fromTokenizerConfig(config(
                "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}")));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("[rag]")
                && e.getMessage().contains("\"default\""), e.getMessage());
    }

    @Test
    void aConfigWithoutChatTemplateIsAnErrorNamingTheFile() {
        KeelException e = assertThrows(KeelException.class,
                () -> ChatTemplate.fromTokenizerConfig(config("{\"bos_token\": \"<s>\"}")));
        assertTrue(e.getMessage().contains("tokenizer_config.json has no \"chat_template\""), e.getMessage());
    }

    @Test
    void chatTemplateJinjaInTheModelDirectoryWinsOverTokenizerConfig(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("chat_template.jinja"), "FILE {{ bos_token }}\n");
        ChatTemplate t = ChatTemplate.load(dir, config("{\"chat_template\": \"CONFIG\", \"bos_token\": \"<s>\"}"));
        assertEquals("FILE <s>", t.render(HI, false, Map.of()));
    }

    @Test
    void specialTokensAreTheSetOnesOfTransformersSpecialTokensMap() {
        Map<String, Object> s = ChatTemplate.specialTokens(config("{\"bos_token\": \"<s>\", \"eos_token\": "
                + "{\"content\": \"</s>\", \"lstrip\": false}, \"pad_token\": null, \"unk_token\": \"<unk>\", "
                + "\"add_bos_token\": true, \"additional_special_tokens\": [\"<a>\", {\"content\": \"<b>\"}]}"));
        assertEquals(Map.of("bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>",
                "additional_special_tokens", List.of("<a>", "<b>")), s);
    }

    @Test
    void extraVariablesReachTheTemplateAndOverrideSpecialTokens() {
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}|{{ documents[0].title }}", Map.of("bos_token", "<s>"));
        assertEquals("<B>|Doc", t.render(HI, false, Map.of("bos_token", "<B>", "documents", List.of(Map.of("title", "Doc")))));
    }

    @Test
    void messagesIsNotAnExtraVariable() {
        KeelException e = assertThrows(KeelException.class, () -> render("x", Map.of("messages", List.of())));
        assertTrue(e.getMessage().contains("'messages'"), e.getMessage());
    }

    @Test
    void addGenerationPromptIsPassedAsABoolean() {
        ChatTemplate t = ChatTemplate.of("{% if add_generation_prompt %}yes{% else %}no{% endif %}", Map.of());
        assertEquals("yes", t.render(HI, true, Map.of()));
        assertEquals("no", t.render(HI, false, Map.of()));
    }

    @Test
    void raiseExceptionBecomesAKeelExceptionWithTheTemplatesMessage() {
        KeelException e = assertThrows(KeelException.class,
                () -> render("{% if messages|length < 2 %}{{ raise_exception('Need at least ' ~ 2 ~ ' turns') }}{% endif %}"));
        assertEquals("chat template raised an exception: Need at least 2 turns", e.getMessage());
    }

    @Test
    void aSyntaxErrorNamesItsLine() {
        KeelException e = assertThrows(KeelException.class, () -> render("line 1\n{{- 'ok' }}\n{{ 1 + }}"));
        assertTrue(e.getMessage().startsWith("chat template syntax error at line 3"), e.getMessage());
    }

    @Test
    void aMissingEndTagNamesTheLineOfTheOpeningTag() {
        KeelException e = assertThrows(KeelException.class, () -> render("a\n\n  {%- for m in messages %}{{ m.role }}"));
        assertTrue(e.getMessage().startsWith("chat template syntax error at line 3") && e.getMessage().contains("endfor"),
                e.getMessage());
    }

    @Test
    void anUnclosedTagIsASyntaxError() {
        KeelException e = assertThrows(KeelException.class, () -> render("ok\n{{ messages[0].content "));
        assertEquals("chat template syntax error at line 2: unclosed '{{' tag (no matching '}}')", e.getMessage());
    }

    @Test
    void aFilterJinjavaLacksIsReportedWhenTheTemplateIsLoaded() {
        KeelException e = assertThrows(KeelException.class,
                () -> ChatTemplate.of("{{ messages | no_such_filter }}", Map.of()));
        assertTrue(e.getMessage().contains("filter 'no_such_filter'"), e.getMessage());
    }

    @Test
    void aPythonErrorInsideAnExpressionNamesItsLine() {
        KeelException e = assertThrows(KeelException.class, () -> render("\n{{ 'a,b'.split('') }}"));
        assertEquals("chat template error at line 2: empty separator", e.getMessage());
    }

    @Test
    void templatesMayNotModifyTheirInputsAsInTransformersImmutableSandbox() {
        KeelException e = assertThrows(KeelException.class, () -> render("{{ messages.append(1) }}"));
        assertTrue(e.getMessage().contains("'append'") && e.getMessage().contains("unsafe"), e.getMessage());
    }

    @Test
    void messageTextThatLooksLikeTemplateCodeIsPrintedAsText() {
        ChatTemplate t = ChatTemplate.of("{{ messages[0].content }}", Map.of());
        assertEquals("{{ 7 * 6 }} {% if %}", t.render(List.of(Map.of("role", "user", "content", "{{ 7 * 6 }} {% if %}")),
                false, Map.of()));
    }

    @Test
    void strftimeNowFormatsTheInjectedClockInItsZoneAsPythonDatetimeNowDoes() {
        Clock clock = Clock.fixed(Instant.parse("2025-07-26T12:05:09Z"), ZoneId.of("Europe/Paris"));
        ChatTemplate t = ChatTemplate.of("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %-d %B %Y, %I:%M %p') }}"
                + "|{{ strftime_now('%Y-%m-%dT%H:%M:%S%z%Z %j') }}", Map.of()).withClock(clock);
        // 12:05 UTC is 14:05 in Paris (summer time); datetime.now() is naive, so %z and %Z print nothing
        assertEquals("26 Jul 2025|Saturday 26 July 2025, 02:05 PM|2025-07-26T14:05:09 207", t.render(HI, false, Map.of()));
    }

    @Test
    void tojsonMatchesPythonJsonDumpsForNestedDataWithNonAsciiText() {
        Map<String, Object> x = Map.of("x", ChatTemplate.jsonValue(TestSupport.parse(
                "{\"name\": \"météo\", \"args\": {\"city\": \"Zürich\", \"days\": [1, 2.5, null, true]}, \"empty\": {}, \"list\": []}")));
        // printed by /usr/bin/python3: json.dumps(x, ensure_ascii=False)
        assertEquals("{\"name\": \"météo\", \"args\": {\"city\": \"Zürich\", \"days\": [1, 2.5, null, true]}, "
                + "\"empty\": {}, \"list\": []}", render("{{ x|tojson }}", x));
    }

    @Test
    void tojsonWithIndentPutsItemsOnTheirOwnLinesWithCommaSeparators() {
        Map<String, Object> x = Map.of("x", ChatTemplate.jsonValue(TestSupport.parse(
                "{\"name\": \"météo\", \"args\": {\"days\": [1, null]}, \"empty\": {}}")));
        assertEquals("{\n  \"name\": \"météo\",\n  \"args\": {\n    \"days\": [\n      1,\n      null\n    ]\n  },\n"
                + "  \"empty\": {}\n}", render("{{ x|tojson(indent=2) }}", x));
    }

    @Test
    void tojsonTakesEnsureAsciiSortKeysAndSeparators() {
        Map<String, Object> x = Map.of("x", ChatTemplate.jsonValue(TestSupport.parse(
                "{\"name\": \"météo\", \"args\": {\"city\": \"Zürich\"}, \"list\": [1, \"😀\"]}")));
        // json.dumps(x, ensure_ascii=True, sort_keys=True, separators=(',', ':')): lower-case hex escapes,
        // an astral character as a surrogate pair
        assertEquals("{\"args\":{\"city\":\"Z\\u00fcrich\"},\"list\":[1,\"\\ud83d\\ude00\"],\"name\":\"m\\u00e9t\\u00e9o\"}",
                render("{{ x|tojson(ensure_ascii=true, sort_keys=true, separators=(',', ':')) }}", x));
    }

    @Test
    void tojsonEscapesQuotesBackslashesAndControlCharactersAsPythonDoes() {
        assertEquals("\"say \\\"hi\\\"\\n\\ttab \\\\ \\u0001 /\"", render("{{ x|tojson }}", Map.of("x", "say \"hi\"\n\ttab \\ \u0001 /")));
    }

    @Test
    void printedValuesLookAsPythonPrintsThem() {
        // str() of a list is the repr of its items: quotes chosen as Python chooses them, None, True, floats
        assertEquals("[\"it's\", 'q\"', 'n\\nl', None, True, 1.5, {'k': [1]}, 1e+16, 1e-05, 0.0001, 100.0]|True|2.0",
                render("{{ [\"it's\", 'q\"', 'n\\nl', none, true, 1.5, {'k': [1]}, 1e16, 0.00001, 0.0001, 100.0] }}"
                        + "|{{ 1 < 2 }}|{{ 4 / 2 }}"));
    }

    @Test
    void namespaceCarriesValuesOutOfALoop() {
        assertEquals("found at 1", render("{% set ns = namespace(found=false, at=-1) %}"
                + "{% for m in ['a', 'b'] %}{% if m == 'b' %}{% set ns.found = true %}{% set ns.at = loop.index0 %}"
                + "{% endif %}{% endfor %}{% if ns.found %}found at {{ ns.at }}{% endif %}"));
    }

    @Test
    void breakAndContinueControlLoops() {
        assertEquals("1,3,", render("{% for i in [1, 2, 3, 4, 5] %}{% if i == 2 %}{% continue %}{% endif %}"
                + "{% if i == 4 %}{% break %}{% endif %}{{ i }},{% endfor %}"));
    }

    @Test
    void loopVariablesFirstLastIndexAndLength() {
        assertEquals("[0 1 3 F]|[1 2 3 -]|[2 3 3 L]", render("{% for i in ['a', 'b', 'c'] %}{% if not loop.first %}|{% endif %}"
                + "[{{ loop.index0 }} {{ loop.index }} {{ loop.length }} {{ 'F' if loop.first else 'L' if loop.last else '-' }}]"
                + "{% endfor %}"));
    }

    @Test
    void listFiltersWorkOnMessages() {
        List<Map<String, Object>> m = List.of(Map.of("role", "system", "content", "s"), Map.of("role", "user", "content", "u1"),
                Map.of("role", "assistant", "content", "a"), Map.of("role", "user", "content", "u2"));
        ChatTemplate t = ChatTemplate.of("{{ messages|length }}|{{ (messages|first).role }}|{{ (messages|last).content }}"
                + "|{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}"
                + "|{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }}"
                + "|{{ messages[::-1]|map(attribute='content')|list }}|{{ messages[-1].content }}", Map.of());
        assertEquals("4|system|u2|['u1', 'u2']|system,assistant|['u2', 'a', 'u1', 's']|u2", t.render(m, false, Map.of()));
    }

    @Test
    void lengthAndTrimFollowPythonLenAndStrip() {
        // len() counts code points (the emoji is one); strip() removes U+00A0 and U+3000 like any whitespace
        assertEquals("6|[x]", render("{{ 'héllo😀'|length }}|[{{ x|trim }}]", Map.of("x", "\u00a0 x \u3000")));
    }

    @Test
    void generationTagRendersItsBodyAsTransformersDoesWithoutAMask() {
        assertEquals("A:hi.", render("A:{% generation %}{{ messages[0].content }}.{% endgeneration %}"));
    }

    @Test
    void getOnAMessageTakesADefault() {
        assertEquals("user|none", render("{{ messages[0].get('role') }}|{{ messages[0].get('name', 'none') }}"));
    }

    @Test
    void aBackslashAtTheEndOfALineInALiteralJoinsTheLinesAsInPython() {
        // Mistral Small 3.1's default system message is written this way
        assertEquals("Paris.Your|3", render("{{ 'Paris.\\\nYour' }}|{{ 1 +\n 2 }}"));
    }

    @Test
    void stringEscapesInLiteralsAreReadAsPythonReadsThem() {
        // jinja2 decodes literals with Python's unicode-escape: hex, unicode, octal and named escapes
        assertEquals("A é 😀 • A \\/ a\tb", render("{{ '\\x41 \\u00e9 \\U0001F600 \\N{BULLET} \\101 \\/ a\\tb' }}"));
    }

    @Test
    void aForLoopOverAStringGoesThroughItsCharacters() {
        assertEquals("[a][😀]", render("{% for c in 'a😀' %}[{{ c }}]{% endfor %}"));
    }

    @Test
    void aForLoopOverADictGoesThroughItsKeys() {
        assertEquals("city,days,", render("{% for k in x %}{{ k }},{% endfor %}",
                Map.of("x", ChatTemplate.jsonValue(TestSupport.parse("{\"city\": \"Paris\", \"days\": 2}")))));
    }

    @Test
    void forElseRendersTheElsePartOnlyForAnEmptySequence() {
        assertEquals("12|none", render("{% for i in [1, 2] %}{{ i }}{% else %}none{% endfor %}|"
                + "{% for i in [] %}{{ i }}{% else %}none{% endfor %}"));
    }

    @Test
    void aLoopOverAnUndefinedValueRendersNothing() {
        assertEquals("[]", render("[{% for t in nothing %}{{ t }}{% endfor %}]"));
    }

    @Test
    void toolsAndDocumentsAreNoneWhenNotGivenAsTransformersPassesThem() {
        // defined, printed "None", falsy; iterating None is jinja2's TypeError
        assertEquals("True None F|True None", render("{{ tools is defined }} {{ tools }} {{ 'T' if tools else 'F' }}|"
                + "{{ documents is none }} {{ documents }}"));
        KeelException e = assertThrows(KeelException.class, () -> render("{% for t in tools %}{% endfor %}"));
        assertEquals("chat template error at line 1: 'NoneType' object is not iterable", e.getMessage());
    }

    @Test
    void aJsonNullInAMessageIsNoneNotUndefined() {
        // an assistant tool-call turn: "content": null prints None, is defined and is none
        List<Map<String, Object>> m = ChatTemplate.messagesFromJson(TestSupport.parse(
                "[{\"role\": \"assistant\", \"content\": null, \"tool_calls\": []}]"));
        assertEquals("None|True|True", ChatTemplate.of("{{ messages[0].content }}|{{ messages[0].content is defined }}|"
                + "{{ messages[0].content is none }}", Map.of()).render(m, false, Map.of()));
    }

    @Test
    void aLoopFilterSkipsItemsBeforeLoopCountsThem() {
        // Mistral's templates: {% for key, val in tool.items() if key != "return" %} ... {% if not loop.last %}
        Map<String, Object> x = Map.of("x", ChatTemplate.jsonValue(TestSupport.parse("{\"name\": \"f\", \"return\": 1, \"d\": 2}")));
        assertEquals("name=f,d=2.|", render("{% for k, v in x.items() if k != 'return' %}{{ k }}={{ v }}"
                + "{{ '.' if loop.last else ',' }}{% endfor %}|{% for k in x if k == 'z' %}{{ k }}{% endfor %}", x));
    }

    @Test
    void aRecursiveLoopIsRefusedRatherThanRenderedWrongly() {
        KeelException e = assertThrows(KeelException.class,
                () -> ChatTemplate.of("\n{% for m in messages recursive %}{% endfor %}", Map.of()));
        assertTrue(e.getMessage().startsWith("chat template syntax error at line 2: recursive loops"), e.getMessage());
    }

    @Test
    void notBindsLooserThanComparisonsAsInJinja2() {
        // jinjava alone reads "not a == b" as "(not a) == b"
        assertEquals("True True False True False", render("{{ not 1 == 2 }} {{ not 'a' in 'xyz' }} "
                + "{{ not 'x' in 'xyz' }} {{ 'a' not in 'b' }} {{ not 1 == 2 and not 2 == 2 }}"));
    }

    @Test
    void notKeepsItsPlaceBeforeIsTests() {
        assertEquals("True False", render("{{ not nothing is defined }} {{ not messages is defined }}"));
    }

    @Test
    void aSetBlockCapturesItsBody() {
        assertEquals("[hi!]", render("{% set x %}{{ messages[0].content }}!{% endset %}[{{ x }}]"));
    }
}
