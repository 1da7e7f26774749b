package dev.keel.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * {@code --config run.yaml}: option values from a YAML map, keyed by the option's long name without dashes
 * ({@code lr: 1e-4}, {@code batch-size: 16}; underscores work too). Flags on the command line override the
 * file. A key that names no option of the command is an error naming the file and the key.
 */
final class YamlDefaults implements CommandLine.IDefaultValueProvider {
    private final Map<String, String> values;

    private YamlDefaults(Map<String, String> values) {
        this.values = values;
    }

    /** The value after {@code --config} in {@code args} (or {@code --config=FILE}), or null. */
    static Path configArg(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                return Path.of(args[i + 1]);
            }
            if (args[i].startsWith("--config=")) {
                return Path.of(args[i].substring("--config=".length()));
            }
        }
        return null;
    }

    /** Reads {@code file} and checks every key against the options of the subcommand that will run. */
    static YamlDefaults load(Path file, CommandLine root, String[] args) {
        JsonNode n;
        try {
            n = new ObjectMapper(new YAMLFactory()).readTree(SafeFiles.readText(file, "--config"));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new KeelException(file + ": not valid YAML (" + SafeFiles.where(e) + ")");
        }
        if (n == null || !n.isObject()) {
            throw new KeelException(file + ": expected a YAML map of option: value");
        }
        CommandLine sub = args.length > 0 ? root.getSubcommands().get(args[0]) : null;
        Map<String, String> values = new LinkedHashMap<>();
        var it = n.fields();
        while (it.hasNext()) {
            var e = it.next();
            String key = e.getKey().replace('_', '-');
            if (sub != null && sub.getCommandSpec().findOption("--" + key) == null) {
                throw new KeelException(file + ": key '" + e.getKey() + "' is not an option of 'keel " + args[0] + "'");
            }
            JsonNode v = e.getValue();
            OptionSpec option = sub == null ? null : sub.getCommandSpec().findOption("--" + key);
            values.put(key, value(file, e.getKey(), v, option));
        }
        return new YamlDefaults(values);
    }

    /**
     * The text picocli parses for one key: a scalar, or a list of scalars joined by commas. A map, a null (a key
     * without a value) or a list inside a list is an error; so is anything but a string for a path option
     * ({@code out: 5} or {@code out: [a]} would otherwise name a folder nobody asked for).
     */
    private static String value(Path file, String key, JsonNode v, OptionSpec option) {
        String where = file + ": key '" + key + "'";
        if (v.isNull() || v.isMissingNode()) {
            throw new KeelException(where + " has no value");
        }
        boolean isPath = option != null && (option.type() == Path.class || option.type() == java.io.File.class);
        if (isPath && !v.isTextual()) {
            throw new KeelException(where + " must be a string (a path), got " + v.getNodeType().toString().toLowerCase());
        }
        if (v.isObject()) {
            throw new KeelException(where + " must be a value or a list of values, not a map");
        }
        if (v.isArray()) {
            List<String> parts = new ArrayList<>();
            for (JsonNode x : v) {
                if (!x.isValueNode() || x.isNull()) {
                    throw new KeelException(where + " must be a list of plain values");
                }
                parts.add(x.asText());
            }
            return String.join(",", parts);
        }
        return v.asText();
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (arg instanceof OptionSpec o) {
            String key = o.longestName().replaceFirst("^-+", "");
            return values.getOrDefault(key, arg.defaultValue());
        }
        return arg.defaultValue();
    }
}
