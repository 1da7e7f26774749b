package dev.keel.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import dev.keel.KeelException;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Shows what a model is fed: prints the text, or with --chat the prompt rendered by the "
                + "model's chat template, then its token ids as a JSON array on the next line.",
                "",
                "Reads stdin: plain text exactly as given (a trailing newline is part of it), or with --chat a JSON "
                + "array of messages [{\"role\": ..., \"content\": ...}, ...].",
                "The chat prompt is rendered as transformers' apply_chat_template renders it and encoded without "
                + "added special tokens (the template writes its own); plain text is encoded with them (e.g. BOS)."})
final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (tokenizer.json, tokenizer_config.json).")
    Path model;

    @Option(names = "--chat", description = "Read a JSON array of messages and render it with the chat template.")
    boolean chat;

    @Option(names = "--add-generation-prompt", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "With --chat: end with the assistant turn's header (default: ${DEFAULT-VALUE}; "
                    + "--no-add-generation-prompt to leave it out).")
    boolean addGenerationPrompt;

    @Option(names = "--template-vars", paramLabel = "JSON",
            description = "With --chat: a JSON object of extra template variables, e.g. "
                    + "'{\"enable_thinking\": false}' or '{\"tools\": [...]}'.")
    String templateVars;

    /** Where the text or messages come from; tests replace it. */
    InputStream in = System.in;

    @Override
    public Integer call() throws IOException {
        if (!chat && (spec.commandLine().getParseResult().hasMatchedOption("--add-generation-prompt")
                || templateVars != null)) {
            throw new ParameterException(spec.commandLine(),
                    "--add-generation-prompt and --template-vars only apply with --chat");
        }
        String input = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        try (Tokenizer tok = Tokenizer.load(model)) {
            String text;
            long[] ids;
            if (chat) {
                List<Map<String, Object>> messages = ChatTemplate.messagesFromJson(parse(input, "stdin"));
                text = ChatTemplate.load(model, tok.config()).render(messages, addGenerationPrompt, extraVariables());
                ids = tok.encode(text, false);
            } else {
                text = input;
                ids = tok.encode(text, true);
            }
            ArrayNode idsJson = JSON.createArrayNode();
            for (long id : ids) {
                idsJson.add(id);
            }
            PrintWriter out = spec.commandLine().getOut();
            out.print(text);
            out.print('\n');
            out.print(idsJson);
            out.print('\n');
            out.flush();
            return 0;
        }
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
