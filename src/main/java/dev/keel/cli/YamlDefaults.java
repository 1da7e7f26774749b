package dev.keel.cli;

import java.io.IOException;
import java.nio.file.Files;
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
            n = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(file));
        } catch (IOException e) {
            throw new KeelException(file + ": cannot read or parse YAML: " + e.getMessage(), e);
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
            if (v.isArray()) {
                List<String> parts = new ArrayList<>();
                v.forEach(x -> parts.add(x.asText()));
                values.put(key, String.join(",", parts));
            } else {
                values.put(key, v.asText());
            }
        }
        return new YamlDefaults(values);
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
