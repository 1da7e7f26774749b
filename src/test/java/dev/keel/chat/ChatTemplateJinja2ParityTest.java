package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.KeelException;
import dev.keel.TestSupport;

/**
 * Real chat templates rendered by Keel against the renders of Python jinja2 (set up as transformers'
 * {@code apply_chat_template}), byte for byte: {@code src/test/fixtures/chat/NAME/cases.jsonl}, written by
 * {@code scripts/reference/render_chat_templates.py}. A case that jinja2 ends with {@code raise_exception(msg)}
 * must end with the same message; one that ends with another Python error (TypeError, UndefinedError) must end
 * with a {@link KeelException} (Keel words those messages its own way). A missing template folder fails.
 *
 * <p>Cases Keel does not yet render exactly are listed in {@link #KNOWN_GAPS} with the reason; for them the test
 * asserts that the render still differs, so a fix forces the list to shrink.
 */
class ChatTemplateJinja2ParityTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Clock NEW_YEAR = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);

    /** Every template folder the fixtures must have (a missing one fails, never skips). */
    static final List<String> TEMPLATES = List.of(
            "ByteDance-Seed-OSS",
            "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
            "GLM-4.6",
            "HuggingFaceH4-zephyr-7b-beta",
            "HuggingFaceTB-SmolLM3-3B",
            "LFM2.5-8B-A1B",
            "NVIDIA-Nemotron-Nano-v2",
            "Qwen-Qwen2.5-7B-Instruct",
            "chujiezheng-alpaca",
            "chujiezheng-amberchat",
            "chujiezheng-chatml",
            "chujiezheng-chatqa",
            "chujiezheng-falcon",
            "chujiezheng-gemma-it",
            "chujiezheng-granite-3.0-instruct",
            "chujiezheng-llama",
            "chujiezheng-llama-2-chat",
            "chujiezheng-llama-3-chat",
            "chujiezheng-mistral",
            "chujiezheng-mistral-instruct",
            "chujiezheng-openchat",
            "chujiezheng-orca",
            "chujiezheng-phi-3",
            "chujiezheng-qwen2.5-instruct",
            "chujiezheng-saiga",
            "chujiezheng-solar-instruct",
            "chujiezheng-vicuna",
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
            "deepseek-ai-DeepSeek-V3.1",
            "glm_4_5",
            "google-gemma-2-2b-it",
            "llama-cpp-lfm2",
            "llama-cpp-microsoft-Phi-4-mini-instruct",
            "meta-llama-Llama-3.2-1B-Instruct",
            "microsoft-Phi-3.5-mini-instruct",
            "mistralai-Mistral-Small-3.1-24B-Instruct-2503",
            "moonshotai-Kimi-K2",
            "moonshotai-Kimi-K2-Thinking",
            "nvidia-Llama-3_3-Nemotron-Super-49B-v1_5",
            "unsloth-Apriel-1.5",
            "unsloth-MiniMax-M2",
            "vllm-template_chatml",
            "vllm-tool_chat_template_deepseekr1",
            "vllm-tool_chat_template_deepseekv3",
            "vllm-tool_chat_template_deepseekv31",
            "vllm-tool_chat_template_gemma3_pythonic",
            "vllm-tool_chat_template_granite",
            "vllm-tool_chat_template_granite_20b_fc",
            "vllm-tool_chat_template_hermes",
            "vllm-tool_chat_template_hermes_2_pro",
            "vllm-tool_chat_template_hunyuan_a13b",
            "vllm-tool_chat_template_internlm2_tool",
            "vllm-tool_chat_template_llama3.1_json",
            "vllm-tool_chat_template_llama3.2_json",
            "vllm-tool_chat_template_llama3.2_pythonic",
            "vllm-tool_chat_template_llama4_json",
            "vllm-tool_chat_template_minicpm3",
            "vllm-tool_chat_template_mistral",
            "vllm-tool_chat_template_mistral3",
            "vllm-tool_chat_template_mistral_parallel",
            "vllm-tool_chat_template_nemotron_json",
            "vllm-tool_chat_template_olmo3",
            "vllm-tool_chat_template_phi4_mini",
            "vllm-tool_chat_template_qwen3coder",
            "vllm-tool_chat_template_toolace",
            "vllm-tool_chat_template_xlam_llama",
            "vllm-tool_chat_template_xlam_qwen");

    /** "template/case" of the cases Keel still renders differently, with why. */
    static final Map<String, String> KNOWN_GAPS = Map.of();

    record Case(String template, String name, JsonNode json) {
        String id() {
            return template + "/" + name;
        }

        @Override
        public String toString() {
            return id();
        }
    }

    /** What Keel gives for one case: the render, or the message of the error it raised. */
    record Outcome(String render, String error) {}

    static Stream<Case> cases() {
        List<Case> out = new ArrayList<>();
        for (String t : TEMPLATES) {
            Path dir = TestSupport.fixture("chat/" + t);
            TestSupport.fixture("chat/" + t + "/template.jinja");
            try {
                for (String line : Files.readAllLines(TestSupport.fixture("chat/" + t + "/cases.jsonl"),
                        StandardCharsets.UTF_8)) {
                    if (!line.isBlank()) {
                        JsonNode j = JSON.readTree(line);
                        out.add(new Case(t, j.get("case").asText(), j));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
            }
        }
        return out.stream();
    }

    static Outcome render(Case c) {
        String source;
        try {
            source = Files.readString(TestSupport.fixture("chat/" + c.template() + "/template.jinja"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        JsonNode j = c.json();
        Map<String, Object> vars = new HashMap<>();
        vars.put("tools", ChatTemplate.jsonValue(j.get("tools")));
        vars.put("documents", null);
        @SuppressWarnings("unchecked")
        Map<String, Object> kwargs = (Map<String, Object>) ChatTemplate.jsonValue(j.get("kwargs"));
        vars.putAll(kwargs);
        try {
            ChatTemplate t = ChatTemplate.of(source, Map.of()).withClock(NEW_YEAR);
            return new Outcome(t.render(ChatTemplate.messagesFromJson(j.get("messages")),
                    j.get("add_generation_prompt").asBoolean(), vars), null);
        } catch (KeelException e) {
            return new Outcome(null, e.getMessage());
        }
    }

    /** Whether Keel's outcome is jinja2's: the same render, or the same raise_exception message, or an error. */
    static boolean matches(Case c, Outcome o) {
        JsonNode j = c.json();
        if (j.has("expected")) {
            return j.get("expected").asText().equals(o.render());
        }
        if (o.error() == null) {
            return false;
        }
        JsonNode e = j.get("error");
        return !e.get("type").asText().equals("raise_exception")
                || o.error().equals("chat template raised an exception: " + e.get("message").asText());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersAsJinja2(Case c) {
        Outcome o = render(c);
        String gap = KNOWN_GAPS.get(c.id());
        if (gap != null) {
            assertTrue(!matches(c, o), c.id() + " now matches jinja2: remove it from KNOWN_GAPS (" + gap + ")");
            return;
        }
        JsonNode j = c.json();
        if (j.has("expected")) {
            if (o.error() != null) {
                fail("jinja2 renders " + c.id() + " but Keel raised: " + o.error());
            }
            assertEquals(j.get("expected").asText(), o.render(), c.id());
        } else {
            JsonNode e = j.get("error");
            assertNotEquals(null, o.error(), c.id() + ": jinja2 raised " + e.get("type").asText() + ": "
                    + e.get("message").asText() + ", Keel rendered " + o.render());
            if (e.get("type").asText().equals("raise_exception")) {
                assertEquals("chat template raised an exception: " + e.get("message").asText(), o.error(), c.id());
            }
        }
    }

    @Test
    void everyListedTemplateHasItsFixturesAndNoFolderIsLeftOut() throws IOException {
        List<String> onDisk;
        try (Stream<Path> dirs = Files.list(TestSupport.fixture("chat"))) {
            onDisk = dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertEquals(TEMPLATES.stream().sorted().toList(), onDisk);
        for (String gap : KNOWN_GAPS.keySet()) {
            assertTrue(cases().anyMatch(c -> c.id().equals(gap)), "KNOWN_GAPS names no fixture case: " + gap);
        }
    }

    @Test
    void allButTheKnownGapsMatchExactly() {
        Map<String, Boolean> result = new LinkedHashMap<>();
        int[] errors = new int[2]; // jinja2 errors other than raise_exception; those Keel words as Python does
        cases().forEach(c -> {
            Outcome o = render(c);
            result.put(c.id(), matches(c, o));
            JsonNode e = c.json().get("error");
            if (e != null && !e.get("type").asText().equals("raise_exception")) {
                errors[0]++;
                errors[1] += o.error() != null && o.error().endsWith(": " + e.get("message").asText()) ? 1 : 0;
            }
        });
        long exact = result.values().stream().filter(b -> b).count();
        System.out.println("chat template parity: " + exact + " of " + result.size()
                + " jinja2 fixture cases exact; known gaps: " + KNOWN_GAPS.size() + "; of " + errors[0]
                + " Python errors (TypeError, UndefinedError, ...), " + errors[1] + " with jinja2's own message");
        assertEquals(result.size() - KNOWN_GAPS.size(), exact);
    }
}
