package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Gpt2TokenizerTestAccess;

/**
 * The tokenize command on GPT-2's tokenizer, given a post-processor that prepends <|endoftext|> (50256) as
 * a BOS, so that adding special tokens shows in the ids. GPT-2 ids: "Hello world" = 15496 995; "user" 7220,
 * ":" 25, " Hello" 18435, "\n" 198, "ass" 562, "istant" 10167.
 */
class TokenizeCommandTest {
    static final String TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
            + "{% if add_generation_prompt %}assistant:{% endif %}";

    @TempDir
    Path tmp;
    Path model;

    record Result(int code, String out, String err) {}

    @BeforeEach
    void gpt2WithBos() throws IOException {
        model = Gpt2TokenizerTestAccess.buildGpt2TokenizerDir(tmp.resolve("gpt2"));
        ObjectNode tok = (ObjectNode) TestSupport.readJson(model.resolve("tokenizer.json"));
        tok.set("post_processor", TestSupport.parse("{\"type\": \"TemplateProcessing\","
                + " \"single\": [{\"SpecialToken\": {\"id\": \"<|endoftext|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
                + " \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}],"
                + " \"special_tokens\": {\"<|endoftext|>\": {\"id\": \"<|endoftext|>\", \"ids\": [50256], \"tokens\": [\"<|endoftext|>\"]}}}"));
        ModelFiles.writeJson(model.resolve("tokenizer.json"), tok);
        ObjectNode cfg = (ObjectNode) TestSupport.readJson(model.resolve("tokenizer_config.json"));
        cfg.put("chat_template", TEMPLATE);
        ModelFiles.writeJson(model.resolve("tokenizer_config.json"), cfg);
    }

    /** Runs the command as Main does (KeelException: message on stderr, exit 1), with stdin. */
    static Result run(String stdin, String... args) {
        TokenizeCommand cmd = new TokenizeCommand();
        cmd.in = new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof KeelException) {
                c.getErr().println("keel tokenize: error: " + ex.getMessage());
                return 1;
            }
            throw ex;
        });
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void plainTextIsPrintedThenItsIdsWithTheTokenizersSpecialTokens() {
        Result r = run("Hello world", "--model", model.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("Hello world\n[50256,15496,995]\n", r.out());
    }

    @Test
    void chatMessagesAreRenderedByTheTemplateAndEncodedWithoutAddedSpecialTokens() {
        Result r = run("[{\"role\": \"user\", \"content\": \"Hello world\"}]", "--model", model.toString(), "--chat");
        assertEquals(0, r.code(), r.err());
        // one 50256, written by the template's bos_token; the post-processor's would make it two
        assertEquals("<|endoftext|>user: Hello world\nassistant:\n[50256,7220,25,18435,995,198,562,10167,25]\n", r.out());
    }

    @Test
    void noAddGenerationPromptLeavesTheAssistantHeaderOut() {
        Result r = run("[{\"role\": \"user\", \"content\": \"Hello world\"}]", "--model", model.toString(), "--chat",
                "--no-add-generation-prompt");
        assertEquals(0, r.code(), r.err());
        assertEquals("<|endoftext|>user: Hello world\n\n[50256,7220,25,18435,995,198]\n", r.out());
    }

    @Test
    void templateVarsReachTheTemplate() throws IOException {
        ObjectNode cfg = (ObjectNode) TestSupport.readJson(model.resolve("tokenizer_config.json"));
        cfg.put("chat_template", "{{ 'think' if enable_thinking else 'no_think' }}");
        ModelFiles.writeJson(model.resolve("tokenizer_config.json"), cfg);
        Result r = run("[]", "--model", model.toString(), "--chat", "--template-vars", "{\"enable_thinking\": false}");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("no_think\n"), r.out());
    }

    @Test
    void aMessageWithoutARoleIsAnErrorNamingIt() {
        Result r = run("[{\"role\": \"user\", \"content\": \"a\"}, {\"content\": \"b\"}]", "--model", model.toString(), "--chat");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("messages[1].role must be a string"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void chatInputThatIsNotJsonIsAnError() {
        Result r = run("user: hi", "--model", model.toString(), "--chat");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("stdin: not valid JSON"), r.err());
    }

    @Test
    void aModelWithoutAChatTemplateIsAnErrorNamingTokenizerConfig() throws IOException {
        Files.writeString(model.resolve("tokenizer_config.json"), "{\"bos_token\": \"<|endoftext|>\"}");
        Result r = run("[]", "--model", model.toString(), "--chat");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("tokenizer_config.json has no \"chat_template\""), r.err());
    }

    @Test
    void generationPromptOptionsWithoutChatAreAUsageError() {
        Result r = run("x", "--model", model.toString(), "--no-add-generation-prompt");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("only apply with --chat"), r.err());
    }

    @Test
    void helpDescribesTheOptions() {
        Result r = run("", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--model") && r.out().contains("--chat") && r.out().contains("--[no-]add-generation-prompt"),
                r.out());
    }
    @Test
    void nowFixesTheClockOfStrftimeNow() throws IOException {
        ObjectNode cfg = (ObjectNode) TestSupport.readJson(model.resolve("tokenizer_config.json"));
        cfg.put("chat_template", "{{ strftime_now('%d %b %Y %H:%M') }}");
        ModelFiles.writeJson(model.resolve("tokenizer_config.json"), cfg);
        assertTrue(run("[]", "--model", model.toString(), "--chat", "--now", "2026-01-01").out()
                .startsWith("01 Jan 2026 00:00\n"));
        assertTrue(run("[]", "--model", model.toString(), "--chat", "--now", "2026-03-04T09:30:00").out()
                .startsWith("04 Mar 2026 09:30\n"));
    }

    @Test
    void aNowThatIsNotADateIsAUsageError() {
        Result r = run("[]", "--model", model.toString(), "--chat", "--now", "yesterday");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--now must be a date (2026-01-01)"), r.err());
    }

    @Test
    void inputRendersEveryRecordAsOneJsonLineWithItsLineNumber() throws IOException {
        Path file = tmp.resolve("conversations.jsonl");
        Files.writeString(file, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello world\"}]}\n"
                + "\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello world\"}], \"add_generation_prompt\": false}\n");
        Result r = run("", "--model", model.toString(), "--input", file.toString());
        assertEquals(0, r.code(), r.err());
        // bos <|endoftext|> 50256, "user" 7220, ":" 25, " Hello" 18435, " world" 995, "\n" 198, "ass" 562 "istant" 10167 ":" 25
        assertEquals("{\"line\":1,\"prompt\":\"<|endoftext|>user: Hello world\\nassistant:\","
                + "\"ids\":[50256,7220,25,18435,995,198,562,10167,25]}\n"
                + "{\"line\":3,\"prompt\":\"<|endoftext|>user: Hello world\\n\",\"ids\":[50256,7220,25,18435,995,198]}\n",
                r.out().replace("\r\n", "\n"));
    }

    @Test
    void inputPassesEachRecordsToolsToTheTemplate() throws IOException {
        ObjectNode cfg = (ObjectNode) TestSupport.readJson(model.resolve("tokenizer_config.json"));
        cfg.put("chat_template", "{{ tools|length if tools else 'none' }}");
        ModelFiles.writeJson(model.resolve("tokenizer_config.json"), cfg);
        Path file = tmp.resolve("tools.jsonl");
        Files.writeString(file, "{\"messages\": [], \"tools\": [{\"type\": \"function\"}, {\"type\": \"function\"}]}\n"
                + "{\"messages\": []}\n");
        Result r = run("", "--model", model.toString(), "--input", file.toString());
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\\R");
        assertTrue(lines[0].contains("\"prompt\":\"2\""), lines[0]);
        assertTrue(lines[1].contains("\"prompt\":\"none\""), lines[1]);
    }

    @Test
    void aBadRecordNamesFileLineAndFieldAndPrintsNothing() throws IOException {
        Path file = tmp.resolve("bad.jsonl");
        Files.writeString(file, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n"
                + "{\"messages\": [{\"content\": \"b\"}]}\n");
        Result r = run("", "--model", model.toString(), "--input", file.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(file + ":2: field 'messages': messages[0].role must be a string"), r.err());
        assertEquals("", r.out());
        assertTrue(!r.err().contains("\tat "), r.err()); // no stack trace
    }

    @Test
    void aRecordWithAMistypedFieldIsAnErrorNamingIt() throws IOException {
        Path file = tmp.resolve("typo.jsonl");
        Files.writeString(file, "{\"messages\": [], \"add_generation_promt\": true}\n");
        Result r = run("", "--model", model.toString(), "--input", file.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(file + ":1: field 'add_generation_promt': unknown"), r.err());
    }

    @Test
    void aNonBooleanAddGenerationPromptIsAnErrorNamingIt() throws IOException {
        Path file = tmp.resolve("gen.jsonl");
        Files.writeString(file, "{\"messages\": [], \"add_generation_prompt\": \"yes\"}\n");
        Result r = run("", "--model", model.toString(), "--input", file.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(file + ":1: field 'add_generation_prompt': must be true or false"), r.err());
    }

    @Test
    void helpDescribesBatchModeAndTheFixedClock() {
        Result r = run("", "--help");
        assertTrue(r.out().contains("--input") && r.out().contains("--now") && r.out().contains("\"line\": N"), r.out());
    }
}
