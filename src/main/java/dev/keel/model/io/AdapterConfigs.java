package dev.keel.model.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;
import dev.keel.model.LoraConfig;

/**
 * Reads and checks PEFT's {@code adapter_config.json} for a LoRA adapter: fields missing take PEFT's defaults
 * ({@code lora_alpha} 8, {@code lora_dropout} 0, {@code use_rslora} false). Every other field is one PEFT's
 * {@code LoraConfig} (0.19) has that leaves a trained adapter's outputs alone, or one Keel does not implement, refused
 * by name unless it holds its default (DoRA, per-layer ranks, layer subsets, aLoRA, ...), or one Keel does not know,
 * refused unless it is empty, false or null: a setting that changes what the adapter computes is never ignored.
 */
final class AdapterConfigs {
    private static final Set<String> HEADS = Set.of("score", "classifier");

    /** Fields Keel reads. */
    private static final Set<String> READ = Set.of("peft_type", "r", "lora_alpha", "lora_dropout", "target_modules",
            "use_rslora", "modules_to_save", "bias", "init_lora_weights");

    /**
     * Fields that name or record the adapter, or only matter at initialisation or with a field checked here:
     * {@code fan_in_fan_out} (PEFT sets it from the layer's type), {@code layers_pattern} (with
     * {@code layers_to_transform}), the initialisers' settings (with {@code init_lora_weights}), and
     * {@code qalora_group_size} (with {@code use_qalora}).
     */
    private static final Set<String> NEUTRAL = Set.of("task_type", "auto_mapping", "peft_version",
            "base_model_name_or_path", "revision", "inference_mode", "fan_in_fan_out", "layers_pattern", "megatron_core",
            "loftq_config", "eva_config", "corda_config", "lora_ga_config", "qalora_group_size", "runtime_config",
            "ensure_weight_tying");

    /** PEFT settings Keel does not implement, refused unless at their defaults, with the reason. */
    private static final Map<String, String> UNSUPPORTED = Map.ofEntries(
            Map.entry("use_dora", "DoRA is not supported"),
            Map.entry("rank_pattern", "per-layer ranks are not supported"),
            Map.entry("alpha_pattern", "per-layer alphas are not supported"),
            Map.entry("layers_to_transform", "layer subsets are not supported"),
            Map.entry("exclude_modules", "excluded modules are not supported"),
            Map.entry("layer_replication", "a replicated layer stack is not supported"),
            Map.entry("alora_invocation_tokens", "Activated LoRA (adapters on only from the invocation tokens on) is not supported"),
            Map.entry("trainable_token_indices", "trained token embeddings are not read"),
            Map.entry("target_parameters", "adapters on parameters (target_parameters) are not supported"),
            Map.entry("lora_bias", "a bias on lora_B is not supported"),
            Map.entry("use_qalora", "QA-LoRA is not supported"),
            Map.entry("use_bdlora", "block-diagonal LoRA is not supported"),
            Map.entry("arrow_config", "Arrow routing between adapters is not supported"),
            Map.entry("megatron_config", "Megatron's parallel layers are not supported"));

    /**
     * {@code init_lora_weights} values that leave the base weights as they are. PiSSA, OLoRA, CorDA and LoftQ
     * subtract their initial update from the base, so such an adapter fits only that changed base until PEFT's
     * {@code save_pretrained(path_initial_model_for_weight_conversion=...)} converts it, which writes {@code true}.
     */
    private static final Set<String> BASE_KEPT = Set.of("true", "false", "gaussian", "eva", "orthogonal");

    /** PEFT's {@code bias} values. */
    private static final Set<String> BIASES = Set.of("none", "all", "lora_only");

    private AdapterConfigs() {}

    /** The parsed config of adapter folder {@code dir}, with its {@code peft_type} checked. */
    static JsonNode read(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new KeelException(dir + (Files.exists(dir) ? ": is a file; an adapter is a folder with "
                    + AdapterFiles.CONFIG + " and " + AdapterFiles.WEIGHTS : ": no such adapter folder"));
        }
        Path file = SafeFiles.inside(dir, AdapterFiles.CONFIG, "the adapter's configuration");
        if (!Files.exists(file)) {
            throw new KeelException(dir + ": not a LoRA adapter folder (no " + AdapterFiles.CONFIG + ")");
        }
        JsonNode c = SafeFiles.readJson(file, "the adapter's configuration");
        if (!c.isObject()) {
            throw new KeelException(file + ": not a JSON object");
        }
        if (!"LORA".equals(c.path("peft_type").asText())) {
            throw new KeelException(file + ": field 'peft_type' is " + c.path("peft_type") + "; Keel reads LORA adapters only");
        }
        return c;
    }

    /** The LoRA settings of {@code dir}'s config. */
    static LoraConfig config(Path dir) {
        JsonNode c = read(dir);
        Path file = dir.resolve(AdapterFiles.CONFIG);
        JsonNode r = c.path("r");
        if (!r.canConvertToInt() || !r.isIntegralNumber() || r.asInt() < 1) {
            throw new KeelException(file + ": field 'r' must be a positive integer, got " + r);
        }
        checkFields(file, c);
        // "all" and "lora_only" save the biases they trained; a layer without a bias saves none, and then the
        // adapter is one with "none" (AdapterFiles refuses any bias tensor by name)
        refuse(file, c, "bias", n -> isSet(n) && !BIASES.contains(n.asText()),
                "PEFT's values are \"none\", \"all\" and \"lora_only\"");
        refuse(file, c, "init_lora_weights", n -> isSet(n) && !BASE_KEPT.contains(n.asText()), "that initialisation "
                + "changes the base model's weights, so the adapter fits only the changed base; PEFT's save_pretrained("
                + "path_initial_model_for_weight_conversion=...) converts it to one for the original base");
        refuse(file, c, "modules_to_save", n -> {
            for (JsonNode m : n) {
                if (!HEADS.contains(m.asText())) {
                    return true;
                }
            }
            return false;
        }, "only a scalar head (score) is read");
        double alpha = number(file, c, "lora_alpha", 8);
        double dropout = number(file, c, "lora_dropout", 0);
        try {
            return new LoraConfig(r.asInt(), alpha, dropout, targets(file, c), c.path("use_rslora").asBoolean(false));
        } catch (IllegalArgumentException e) {
            throw new KeelException(file + ": " + e.getMessage().replace("--lora-", "lora_"), e);
        }
    }

    private static List<String> targets(Path file, JsonNode c) {
        JsonNode t = c.path("target_modules");
        if (t.isTextual()) {
            if (t.asText().equals(LoraConfig.ALL_LINEAR)) {
                return List.of(LoraConfig.ALL_LINEAR);
            }
            throw new KeelException(file + ": field 'target_modules' is a regular expression (" + t.asText()
                    + "); Keel reads a list of module names or \"all-linear\"");
        }
        if (!t.isArray() || t.isEmpty()) {
            throw new KeelException(file + ": field 'target_modules' must be a non-empty list of module names, got " + t);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode n : t) {
            if (!n.isTextual()) {
                throw new KeelException(file + ": field 'target_modules' holds " + n + ", not a module name");
            }
            out.add(n.asText());
        }
        return out;
    }

    private static double number(Path file, JsonNode c, String field, double dflt) {
        JsonNode n = c.path(field);
        if (n.isMissingNode() || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw new KeelException(file + ": field '" + field + "' must be a number, got " + n);
        }
        return n.asDouble();
    }

    /**
     * Every field of {@code c} is one Keel reads, one that leaves the adapter's outputs alone, or else holds its
     * default: an unsupported setting is refused with its reason, an unknown one (a newer PEFT's) as unknown.
     */
    private static void checkFields(Path file, JsonNode c) {
        for (java.util.Iterator<Map.Entry<String, JsonNode>> it = c.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            if (READ.contains(name) || NEUTRAL.contains(name) || !isSet(f.getValue())) {
                continue;
            }
            String why = UNSUPPORTED.get(name);
            throw new KeelException(file + ": field '" + name + "' is " + f.getValue() + "; " + (why != null ? why
                    : "Keel does not know this setting (from a newer PEFT?) and reads adapters only where every setting "
                    + "it does not know is null, false or empty"));
        }
    }

    /** Whether a field holds something other than PEFT's "off" defaults: missing, null, false, "", [] or {}. */
    static boolean isSet(JsonNode n) {
        if (n.isMissingNode() || n.isNull()) {
            return false;
        }
        if (n.isBoolean()) {
            return n.asBoolean();
        }
        if (n.isTextual()) {
            return !n.asText().isEmpty();
        }
        return !n.isContainerNode() || n.size() > 0;
    }

    private static void refuse(Path file, JsonNode c, String field, java.util.function.Predicate<JsonNode> bad, String why) {
        if (bad.test(c.path(field))) {
            throw new KeelException(file + ": field '" + field + "' is " + c.path(field) + "; " + why);
        }
    }
}
