package dev.keel.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.keel.KeelException;
import dev.keel.TestSupport;

/**
 * Three real chat templates (llama.cpp's copies) rendered against strings worked out by hand from their Jinja
 * source, the way transformers' apply_chat_template renders them with jinja2 (trim_blocks, lstrip_blocks, one
 * trailing newline dropped).
 */
class ChatTemplateRealTemplatesTest {
    static ChatTemplate fixture(String file, Map<String, ?> specialTokens) {
        try {
            return ChatTemplate.of(Files.readString(TestSupport.fixture("chat-templates/" + file), StandardCharsets.UTF_8),
                    specialTokens);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, Object> msg(String role, String content) {
        return Map.of("role", role, "content", content);
    }

    static ChatTemplate qwen() {
        return fixture("Qwen-Qwen2.5-7B-Instruct.jinja", Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>"));
    }

    static ChatTemplate smol() {
        return fixture("HuggingFaceTB-SmolLM3-3B.jinja", Map.of("eos_token", "<|im_end|>"));
    }

    static ChatTemplate gemma() {
        return fixture("google-gemma-2-2b-it.jinja", Map.of("bos_token", "<bos>", "eos_token", "<eos>"));
    }

    @Test
    void qwenRendersSystemUserAssistantUserWithAGenerationPrompt() {
        String got = qwen().render(List.of(msg("system", "You are a concise assistant."), msg("user", "What is 2+2?"),
                msg("assistant", "4"), msg("user", "And 3+3?")), true, Map.of());
        // Every tag opens with {%- or {{-, so the template's own newlines and indents vanish; the system message
        // is written before the loop, and skipped inside it (role system on loop.first).
        assertEquals("<|im_start|>system\nYou are a concise assistant.<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n4<|im_end|>\n"
                + "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
                + "<|im_start|>assistant\n", got);
    }

    @Test
    void qwenWithoutASystemMessageWritesItsDefaultOneAndNoGenerationPromptWhenNotAsked() {
        String got = qwen().render(List.of(msg("user", "Hi"), msg("assistant", "Hello!")), false, Map.of());
        assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n", got);
    }

    @Test
    void qwenWritesToolsAndToolCallsAsPythonJsonDumps() {
        Map<String, Object> tool = (Map<String, Object>) ChatTemplate.jsonValue(TestSupport.parse(
                "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Météo du jour\","
                        + " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
                        + " \"required\": [\"city\"]}}}"));
        List<Map<String, Object>> messages = ChatTemplate.messagesFromJson(TestSupport.parse("["
                + "{\"role\": \"user\", \"content\": \"Weather in Zürich?\"},"
                + "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"function\":"
                + " {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}}]},"
                + "{\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21}\"},"
                + "{\"role\": \"tool\", \"content\": \"sunny\"}]"));
        String got = qwen().render(messages, true, Map.of("tools", List.of(tool)));
        // tojson is json.dumps(ensure_ascii=False): ", " and ": " separators, key order kept, "é" as is.
        // The assistant turn has no content (None is falsy), so only its tool call follows the role; the two
        // tool results share one user turn (opened by the first, closed by the last).
        assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n"
                + "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Météo du jour\", "
                + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, "
                + "\"required\": [\"city\"]}}}\n</tools>\n\n"
                + "For each function call, return a json object with function name and arguments within "
                + "<tool_call></tool_call> XML tags:\n<tool_call>\n"
                + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
                + "<|im_start|>user\nWeather in Zürich?<|im_end|>\n"
                + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\nsunny\n"
                + "</tool_response><|im_end|>\n"
                + "<|im_start|>assistant\n", got);
    }

    @Test
    void smolLm3TakesNoThinkFromTheSystemMessageAndWritesItsMetadataHeader() {
        String got = smol().render(List.of(msg("system", "You are a concise assistant. /no_think"),
                msg("user", "What is 2+2?"), msg("assistant", "\n\n4"), msg("user", "And 3+3?")), true, Map.of());
        // enable_thinking is undefined, so it defaults to true ("/think"), but "/no_think" in the system message
        // wins. The flag is cut out of the custom instructions and the trailing space rstrip()ped. The system
        // message is not repeated in the loop (no branch for role "system"). In /no_think mode every assistant
        // turn, and the generation prompt, carry an empty think block; content.lstrip("\n") drops the leading
        // newlines of "\n\n4". This version of the template (Unsloth's edit) writes no date: no strftime_now.
        assertEquals("<|im_start|>system\n"
                + "## Metadata\n\n"
                + "Knowledge Cutoff Date: June 2025\n"
                + "Reasoning Mode: /no_think\n\n"
                + "## Custom Instructions\n\n"
                + "You are a concise assistant.\n\n"
                + "<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n<think>\n\n</think>\n4<|im_end|>\n"
                + "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
                + "<|im_start|>assistant\n<think>\n\n</think>\n", got);
    }

    @Test
    void smolLm3InThinkModeLeavesTurnsBareAndTheFlagOutOfTheInstructions() {
        String got = smol().render(List.of(msg("system", "Answer briefly./think"), msg("user", "Hi"),
                msg("assistant", "Hello!")), true, Map.of());
        assertEquals("<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
                + "Reasoning Mode: /think\n\n## Custom Instructions\n\nAnswer briefly.\n\n<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n"
                + "<|im_start|>assistant\n", got);
    }

    @Test
    void smolLm3WithEnableThinkingFalseAndNoSystemMessageUsesTheShortDefaultInstructions() {
        String got = smol().render(List.of(msg("user", "Hi")), false, Map.of("enable_thinking", false));
        assertEquals("<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
                + "Reasoning Mode: /no_think\n\n## Custom Instructions\n\n"
                + "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n", got);
    }

    @Test
    void gemma2RejectsASystemMessageWithItsOwnError() {
        // This Gemma 2 template does not fold a system message into the first user turn (Gemma 3's does): it
        // raises. transformers surfaces the same message as a TemplateError.
        KeelException e = assertThrows(KeelException.class, () -> gemma().render(List.of(msg("system", "Be brief."),
                msg("user", "Hi"), msg("assistant", "Hello."), msg("user", "Bye")), true, Map.of()));
        assertEquals("chat template raised an exception: System role not supported", e.getMessage());
    }

    @Test
    void gemma2RendersAlternatingTurnsWithModelForAssistantAndTrimmedContent() {
        String got = gemma().render(List.of(msg("user", "  Hello!  "), msg("assistant", "Hi there.\n"),
                msg("user", "How are you?")), true, Map.of());
        // bos_token first; "assistant" becomes "model"; "| trim" binds to message['content'] only (filters bind
        // tighter than +); the newlines are real newlines inside the template's string literals.
        assertEquals("<bos><start_of_turn>user\nHello!<end_of_turn>\n"
                + "<start_of_turn>model\nHi there.<end_of_turn>\n"
                + "<start_of_turn>user\nHow are you?<end_of_turn>\n"
                + "<start_of_turn>model\n", got);
    }

    @Test
    void gemma2RaisesOnRolesThatDoNotAlternate() {
        KeelException e = assertThrows(KeelException.class, () -> gemma().render(List.of(msg("user", "a"),
                msg("user", "b")), false, Map.of()));
        assertEquals("chat template raised an exception: Conversation roles must alternate "
                + "user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void gemma2WithoutAGenerationPromptEndsAfterTheLastTurn() {
        String got = gemma().render(List.of(msg("user", "Hi")), false, Map.of());
        assertEquals("<bos><start_of_turn>user\nHi<end_of_turn>\n", got);
    }
}
