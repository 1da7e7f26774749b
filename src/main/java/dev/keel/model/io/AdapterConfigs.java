package dev.keel.model.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;
import dev.keel.model.LoraConfig;

/**
 * Reads and checks PEFT's {@code adapter_config.json} for a LoRA adapter: fields missing take PEFT's defaults
 * ({@code lora_alpha} 8, {@code lora_dropout} 0, {@code use_rslora} false); settings Keel does not implement
 * (DoRA, biases, per-layer ranks, layer subsets, other heads to save) are refused by name, never ignored.
 */
final class AdapterConfigs {
    private static final Set<String> HEADS = Set.of("score", "classifier");

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
        refuse(file, c, "bias", n -> !n.isMissingNode() && !n.isNull() && !"none".equals(n.asText()), "only \"none\"");
        refuse(file, c, "use_dora", JsonNode::asBoolean, "DoRA is not supported");
        refuse(file, c, "rank_pattern", n -> n.size() > 0, "per-layer ranks are not supported");
        refuse(file, c, "alpha_pattern", n -> n.size() > 0, "per-layer alphas are not supported");
        refuse(file, c, "layers_to_transform", n -> !n.isMissingNode() && !n.isNull(), "layer subsets are not supported");
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

    private static void refuse(Path file, JsonNode c, String field, java.util.function.Predicate<JsonNode> bad, String why) {
        if (bad.test(c.path(field))) {
            throw new KeelException(file + ": field '" + field + "' is " + c.path(field) + "; " + why);
        }
    }
}
