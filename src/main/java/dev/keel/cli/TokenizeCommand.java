package dev.keel.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import dev.keel.KeelException;
import dev.keel.chat.ChatTemplate;
import dev.keel.data.Jsonl;
import dev.keel.tokenizer.Tokenizer;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Shows what a model is fed: prints the text, or with --chat the prompt rendered by the "
                + "model's chat template, then its token ids as a JSON array on the next line.",
                "",
                "Reads stdin: plain text exactly as given (a trailing newline is part of it), or with --chat a JSON "
                + "array of messages [{\"role\": ..., \"content\": ...}, ...].",
                "The chat prompt is rendered as transformers' apply_chat_template renders it and encoded without "
                + "added special tokens (the template writes its own); plain text is encoded with them (e.g. BOS).",
                "",
                "Batch mode (--input FILE.jsonl): one conversation per line, {\"messages\": [...], \"tools\": [...], "
                + "\"add_generation_prompt\": true} (tools and add_generation_prompt optional), rendered with the chat "
                + "template; prints one JSON line per record, {\"line\": N, \"prompt\": \"...\", \"ids\": [...]}, "
                + "in one JVM start. A bad record stops the command before any output, naming FILE:LINE and the field."})
final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> RECORD_FIELDS = List.of("messages", "tools", "add_generation_prompt");

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (tokenizer.json, tokenizer_config.json).")
    Path model;

    @Option(names = "--chat", description = "Read a JSON array of messages and render it with the chat template.")
    boolean chat;

    @Option(names = "--add-generation-prompt", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "With --chat or --input: end with the assistant turn's header (default: ${DEFAULT-VALUE}; "
                    + "--no-add-generation-prompt to leave it out; a record's own add_generation_prompt wins).")
    boolean addGenerationPrompt;

    @Option(names = "--template-vars", paramLabel = "JSON",
            description = "With --chat or --input: a JSON object of extra template variables, e.g. "
                    + "'{\"enable_thinking\": false}' or '{\"tools\": [...]}'.")
    String templateVars;

    @Option(names = "--input", paramLabel = "FILE.jsonl",
            description = "Batch mode: render every conversation of a JSONL file (implies --chat); see above.")
    Path input;

    @Option(names = "--now", paramLabel = "DATE",
            description = "The clock of the template's strftime_now, fixed for reproducible renders: a date "
                    + "(2026-01-01, midnight) or a date-time (2026-01-01T09:30:00). Default: the system clock.")
    String now;

    /** Where the text or messages come from; tests replace it. */
    InputStream in = System.in;

    @Override
    public Integer call() throws IOException {
        boolean chatOnly = spec.commandLine().getParseResult().hasMatchedOption("--add-generation-prompt")
                || templateVars != null || now != null;
        if (!chat && input == null && chatOnly) {
            throw new ParameterException(spec.commandLine(),
                    "--add-generation-prompt, --template-vars and --now only apply with --chat or --input");
        }
        Clock clock = clock();
        try (Tokenizer tok = Tokenizer.load(model)) {
            PrintWriter out = spec.commandLine().getOut();
            if (input != null) {
                ChatTemplate template = ChatTemplate.load(model, tok.config()).withClock(clock);
                List<String> lines = new ArrayList<>();
                for (Jsonl.Line line : Jsonl.read(input)) { // all rendered before any output: an error prints nothing
                    String prompt = render(template, line);
                    ObjectNode o = JSON.createObjectNode();
                    o.put("line", line.number());
                    o.put("prompt", prompt);
                    o.set("ids", idsJson(tok.encode(prompt, false)));
                    lines.add(o.toString());
                }
                lines.forEach(out::println);
                out.flush();
                return 0;
            }
            String stdin = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            String text;
            long[] ids;
            if (chat) {
                List<Map<String, Object>> messages = ChatTemplate.messagesFromJson(parse(stdin, "stdin"));
                text = ChatTemplate.load(model, tok.config()).withClock(clock)
                        .render(messages, addGenerationPrompt, extraVariables());
                ids = tok.encode(text, false);
            } else {
                text = stdin;
                ids = tok.encode(text, true);
            }
            out.print(text);
            out.print('\n');
            out.print(idsJson(ids));
            out.print('\n');
            out.flush();
            return 0;
        }
    }

    /** One batch record rendered; every problem is reported as FILE:LINE: field '...'. */
    private String render(ChatTemplate template, Jsonl.Line line) {
        for (Iterator<String> names = line.node().fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!RECORD_FIELDS.contains(name)) {
                throw line.error(name, "unknown (a record has " + String.join(", ", RECORD_FIELDS) + ")");
            }
        }
        if (!line.node().has("messages")) {
            throw line.error("messages", "missing");
        }
        List<Map<String, Object>> messages;
        try {
            messages = ChatTemplate.messagesFromJson(line.node().get("messages"));
        } catch (KeelException e) {
            throw line.error("messages", e.getMessage());
        }
        JsonNode gen = line.node().get("add_generation_prompt");
        if (gen != null && !gen.isBoolean()) {
            throw line.error("add_generation_prompt", "must be true or false, got " + gen);
        }
        Map<String, Object> vars = new HashMap<>(extraVariables());
        JsonNode tools = line.node().get("tools");
        if (tools != null && !tools.isNull()) {
            if (!tools.isArray()) {
                throw line.error("tools", "must be an array of tool definitions, got "
                        + tools.getNodeType().toString().toLowerCase());
            }
            vars.put("tools", ChatTemplate.jsonValue(tools));
        }
        try {
            return template.render(messages, gen == null ? addGenerationPrompt : gen.asBoolean(), vars);
        } catch (KeelException e) {
            throw line.error("messages", e.getMessage());
        }
    }

    /** The clock of strftime_now: --now read as a local date or date-time, else the system's. */
    private Clock clock() {
        if (now == null) {
            return Clock.systemDefaultZone();
        }
        LocalDateTime t;
        try {
            t = now.contains("T") ? LocalDateTime.parse(now) : LocalDate.parse(now).atStartOfDay();
        } catch (DateTimeParseException e) {
            throw new ParameterException(spec.commandLine(),
                    "--now must be a date (2026-01-01) or a date-time (2026-01-01T09:30:00), got '" + now + "'");
        }
        return Clock.fixed(t.toInstant(ZoneOffset.UTC), ZoneOffset.UTC);
    }

    private static ArrayNode idsJson(long[] ids) {
        ArrayNode a = JSON.createArrayNode();
        for (long id : ids) {
            a.add(id);
        }
        return a;
    }

    private Map<String, Object> extraVariables() {
        if (templateVars == null) {
            return Map.of();
        }
        JsonNode vars = parse(templateVars, "--template-vars");
        if (!vars.isObject()) {
            throw new KeelException("--template-vars must be a JSON object, got " + vars.getNodeType().toString().toLowerCase());
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) ChatTemplate.jsonValue(vars);
        return m;
    }

    private static JsonNode parse(String json, String where) {
        try {
            JsonNode n = JSON.readTree(json);
            if (n == null || n.isMissingNode()) {
                throw new KeelException(where + ": expected JSON, got nothing");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new KeelException(where + ": not valid JSON: " + e.getOriginalMessage());
        }
    }
}
