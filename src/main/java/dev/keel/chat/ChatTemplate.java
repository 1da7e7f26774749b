package dev.keel.chat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * A model's chat template ({@code chat_template} in {@code tokenizer_config.json}), rendered as transformers'
 * {@code apply_chat_template(..., tokenize=False)} renders it with Python jinja2: same whitespace rules, same
 * globals ({@code raise_exception}, {@code strftime_now}), same {@code tojson}, Python string methods and
 * Python-style printing. The engine is jinjava ({@link TemplateEngine}); {@link TemplateSource} applies jinja2's
 * whitespace rules before jinjava sees the template.
 *
 * <p>None in the data (a JSON null, and {@code tools}/{@code documents} when not given, which transformers always
 * passes) is Python's None ({@link PyNone}). Known differences from jinja2, outside what common chat templates
 * rely on: the template's own {@code none} is undefined ({@code {% set x = none %}{{ x }}} prints nothing, and an
 * undefined value {@code is none}); the string {@code "false"} is falsy; {@code %} on negative numbers follows Java
 * ({@code -7 % 3} is -1, not 2); {@code |sum} of ints gives a float; {@code "a" * 3} and {@code "%s" % x} are
 * errors; recursive loops are refused.
 */
public final class ChatTemplate {
    private static final List<String> SPECIAL_TOKENS =
            List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");
    private static final Set<String> RESERVED = Set.of("messages", "add_generation_prompt");

    private final Map<String, TemplateSource.Prepared> templates; // by name; "default" is used
    private final Map<String, Object> specialTokens;
    private final Clock clock;

    private ChatTemplate(Map<String, TemplateSource.Prepared> templates, Map<String, Object> specialTokens, Clock clock) {
        this.templates = templates;
        this.specialTokens = specialTokens;
        this.clock = clock;
    }

    /** A template from its Jinja source, with the given special-token variables ({@code bos_token}, ...). */
    public static ChatTemplate of(String source, Map<String, ?> specialTokens) {
        return create(Map.of("default", source), specialTokens);
    }

    /**
     * The template of {@code tokenizer_config.json}: {@code chat_template} as a string, or as a list of
     * {@code {"name", "template"}} of which "default" is used ("tool_use", when present, for renders given
     * {@code tools}, as transformers picks it). Special tokens come from the same file.
     */
    public static ChatTemplate fromTokenizerConfig(JsonNode tokenizerConfig) {
        JsonNode t = tokenizerConfig.get("chat_template");
        if (t == null || t.isNull()) {
            throw new KeelException("tokenizer_config.json has no \"chat_template\": this tokenizer defines no chat "
                    + "format (use a chat/instruct model, or render prompts as plain text)");
        }
        Map<String, String> named = new LinkedHashMap<>();
        if (t.isTextual()) {
            named.put("default", t.asText());
        } else if (t.isArray()) {
            for (int i = 0; i < t.size(); i++) {
                JsonNode e = t.get(i);
                if (!e.path("name").isTextual() || !e.path("template").isTextual()) {
                    throw new KeelException("tokenizer_config.json: chat_template[" + i
                            + "] must be an object with string \"name\" and \"template\"");
                }
                named.put(e.get("name").asText(), e.get("template").asText());
            }
        } else {
            throw new KeelException("tokenizer_config.json: \"chat_template\" must be a string or a list of "
                    + "{\"name\", \"template\"} objects, got " + t.getNodeType().toString().toLowerCase());
        }
        if (!named.containsKey("default")) {
            throw new KeelException("tokenizer_config.json: chat_template has templates " + named.keySet()
                    + " but none named \"default\"");
        }
        return create(named, specialTokens(tokenizerConfig));
    }

    /**
     * The template of a model directory: {@code chat_template.jinja} (and {@code additional_chat_templates/*.jinja})
     * when present, as newer transformers saves it, else {@code chat_template} of {@code tokenizer_config.json}.
     */
    public static ChatTemplate load(Path modelDir, JsonNode tokenizerConfig) {
        Path file = SafeFiles.inside(modelDir, "chat_template.jinja", "the chat template");
        if (!Files.exists(file)) {
            return fromTokenizerConfig(tokenizerConfig);
        }
        Map<String, String> named = new TreeMap<>();
        named.put("default", read(file));
        Path more = SafeFiles.inside(modelDir, "additional_chat_templates", "the folder of named chat templates");
        if (Files.isDirectory(more)) {
            try (Stream<Path> files = Files.list(more)) {
                files.filter(p -> p.getFileName().toString().endsWith(".jinja")).forEach(p ->
                        named.put(p.getFileName().toString().replaceFirst("\\.jinja$", ""),
                                read(SafeFiles.inside(modelDir, modelDir.relativize(p).toString(), "a chat template"))));
            } catch (IOException e) {
                throw new KeelException(more + ": cannot list: " + e.getMessage(), e);
            }
        }
        return create(named, specialTokens(tokenizerConfig));
    }

    private static String read(Path p) {
        return SafeFiles.readText(p, "a chat template");
    }

    private static ChatTemplate create(Map<String, String> named, Map<String, ?> specialTokens) {
        Map<String, TemplateSource.Prepared> prepared = new LinkedHashMap<>();
        named.forEach((name, source) -> {
            TemplateSource.Prepared p = TemplateSource.prepare(source);
            for (String f : p.conditionalFilters()) {
                TemplateEngine.missingFilter(f); // jinja2 raises only if the branch runs
            }
            for (String f : p.filters()) {
                if (!TemplateEngine.hasFilter(f)) {
                    throw new KeelException("chat template uses the filter '" + f + "', which Keel's template "
                            + "engine (jinjava) does not provide");
                }
            }
            for (String t : p.tests()) {
                if (TemplateEngine.engine().getGlobalContext().getExpTest(t) == null) {
                    throw new KeelException("chat template uses the test 'is " + t + "', which Keel's template "
                            + "engine (jinjava) does not provide");
                }
            }
            prepared.put(name, p);
        });
        return new ChatTemplate(prepared, Map.copyOf(specialTokens), Clock.systemDefaultZone());
    }

    /** The same template with {@code strftime_now} reading this clock (its zone gives the local time). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(templates, specialTokens, clock);
    }

    /** The template variables for special tokens: bos_token ... mask_token and additional_special_tokens. */
    public Map<String, Object> specialTokens() {
        return specialTokens;
    }

    /**
     * The special tokens transformers passes to a template ({@code special_tokens_map}): those of
     * bos/eos/unk/sep/pad/cls/mask_token that are set, each a string or an AddedToken {@code {"content": ...}},
     * and the list {@code additional_special_tokens}.
     */
    public static Map<String, Object> specialTokens(JsonNode tokenizerConfig) {
        Map<String, Object> out = new HashMap<>();
        for (String name : SPECIAL_TOKENS) {
            String content = tokenContent(tokenizerConfig.get(name));
            if (content != null) {
                out.put(name, content);
            }
        }
        JsonNode extra = tokenizerConfig.get("additional_special_tokens");
        if (extra != null && extra.isArray()) {
            List<String> list = new ArrayList<>();
            extra.forEach(e -> {
                String c = tokenContent(e);
                if (c != null) {
                    list.add(c);
                }
            });
            out.put("additional_special_tokens", list);
        }
        return out;
    }

    private static String tokenContent(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        return v.isObject() && v.path("content").isTextual() ? v.get("content").asText() : null;
    }

    /**
     * Renders a conversation. {@code extraVariables} are passed to the template as they are ({@code tools},
     * {@code documents}, {@code enable_thinking}, ...) and override special tokens, as in transformers.
     *
     * @throws KeelException for a template error, naming the line, or with the message of {@code raise_exception}
     */
    public String render(List<Map<String, Object>> messages, boolean addGenerationPrompt,
                         Map<String, Object> extraVariables) {
        Map<String, Object> vars = new HashMap<>(specialTokens);
        if (extraVariables != null) {
            for (String k : extraVariables.keySet()) {
                if (RESERVED.contains(k)) {
                    throw new KeelException("'" + k + "' cannot be an extra template variable: it is set by render()");
                }
            }
            extraVariables.forEach((k, v) -> vars.put(k, PyNone.wrap(v)));
        }
        for (String always : List.of("tools", "documents")) { // transformers passes both, None when not given
            if (vars.get(always) == null) {
                vars.put(always, PyNone.NONE);
            }
        }
        vars.put("messages", PyNone.wrap(messages));
        for (String global : TemplateEngine.GLOBALS) { // "strftime_now is defined" holds in jinja2
            vars.putIfAbsent(global, global);
        }
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put(TemplateEngine.CLOCK_KEY, clock);
        boolean tools = extraVariables != null && extraVariables.get("tools") != null;
        TemplateSource.Prepared t = tools && templates.containsKey("tool_use") ? templates.get("tool_use")
                : templates.get("default");
        RenderResult r = TemplateEngine.engine().renderForResult(t.source(), vars);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL || e.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR) {
                throw TemplateEngine.error(e); // jinja2 stops at the first error; jinjava records them all and goes on
            }
        }
        return r.getOutput();
    }

    /**
     * A conversation from JSON: an array of objects, each with a string {@code role}, a {@code content} that is a
     * string, null or a list (of parts), and any other fields ({@code tool_calls}, {@code name}, ...) kept as they are.
     */
    public static List<Map<String, Object>> messagesFromJson(JsonNode array) {
        if (array == null || !array.isArray()) {
            throw new KeelException("messages must be a JSON array of {\"role\", \"content\"} objects, got "
                    + (array == null ? "nothing" : array.getNodeType().toString().toLowerCase()));
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            JsonNode m = array.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw new KeelException(where + " must be an object with \"role\" and \"content\", got "
                        + m.getNodeType().toString().toLowerCase());
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw new KeelException(where + ".role must be a string, got "
                        + (role == null ? "nothing (missing)" : role.getNodeType().toString().toLowerCase()));
            }
            JsonNode content = m.get("content");
            if (content != null && !content.isTextual() && !content.isNull() && !content.isArray()) {
                throw new KeelException(where + ".content must be a string, null or a list, got "
                        + content.getNodeType().toString().toLowerCase());
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> message = (Map<String, Object>) jsonValue(m);
            out.add(message);
        }
        return out;
    }

    /** A JSON value as the template sees it: maps (key order kept), lists, strings, Long, Double, Boolean, null. */
    public static Object jsonValue(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return null;
        }
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(e.getKey(), jsonValue(e.getValue()));
            }
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(e -> l.add(jsonValue(e)));
            return l;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isBoolean()) {
            return n.asBoolean();
        }
        if (n.isIntegralNumber()) {
            return n.canConvertToLong() ? (Object) n.asLong() : n.bigIntegerValue();
        }
        if (n.isNumber()) {
            return n.asDouble();
        }
        return n.asText();
    }
}
