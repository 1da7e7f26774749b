package dev.keel.model.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * The tensors of a model folder's checkpoint, by stored name: one {@code model.safetensors}, or the shards a
 * {@code model.safetensors.index.json} lists (each tensor read from the shard the index names).
 */
final class CheckpointIndex {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointIndex.class);

    private CheckpointIndex() {}

    /** Where a tensor is stored: its file's header and its entry. */
    record Source(Safetensors.Header header, Safetensors.Entry entry) {}

    /** Every tensor of the checkpoint in {@code dir}, by stored name. */
    static Map<String, Source> of(Path dir) {
        Path single = SafeFiles.inside(dir, ModelFiles.WEIGHTS, "the weights file");
        Path idx = SafeFiles.inside(dir, ModelFiles.INDEX, "the shard index");
        List<Path> files = new ArrayList<>();
        Map<String, String> weightMap = null;
        if (Files.isRegularFile(single)) {
            files.add(single);
        } else if (Files.isRegularFile(idx)) {
            weightMap = readIndex(idx);
            // every name is checked before any shard is opened: a name outside the folder is refused unread
            for (String name : new LinkedHashSet<>(weightMap.values())) {
                files.add(SafeFiles.inside(dir, name, "shard named in " + ModelFiles.INDEX));
            }
            for (Path f : files) {
                if (Files.isDirectory(f)) {
                    throw new KeelException(idx + ": names shard '" + dir.relativize(f) + "', which is a directory");
                }
                if (!Files.isRegularFile(f)) {
                    throw new KeelException(idx + ": names shard '" + dir.relativize(f) + "', which does not exist");
                }
            }
        } else if (Files.exists(dir.resolve("pytorch_model.bin")) || Files.exists(dir.resolve("pytorch_model.bin.index.json"))) {
            throw new KeelException(dir + ": only pickle weights (pytorch_model.bin) found; Keel reads safetensors "
                    + "only, because loading a pickle can run code. Convert the checkpoint to safetensors first.");
        } else {
            throw new KeelException(dir + ": no " + ModelFiles.WEIGHTS + " or " + ModelFiles.INDEX
                    + (Files.isDirectory(single) ? " (" + ModelFiles.WEIGHTS + " is a directory)" : ""));
        }
        Map<String, Source> out = new LinkedHashMap<>();
        for (Path f : files) {
            Safetensors.Header h = Safetensors.readHeader(f);
            for (Safetensors.Entry e : h.entries().values()) {
                if (weightMap != null && !f.equals(dir.resolve(weightMap.getOrDefault(e.name(), "")))) {
                    if (!weightMap.containsKey(e.name())) {
                        LOG.warn("{}: tensor '{}' is not listed in {}", f, e.name(), ModelFiles.INDEX);
                    } else {
                        continue; // the index says another shard holds it
                    }
                }
                out.put(e.name(), new Source(h, e));
            }
        }
        if (weightMap != null) {
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                if (!out.containsKey(e.getKey())) {
                    throw new KeelException(dir.resolve(e.getValue()) + ": tensor '" + e.getKey()
                            + "' is listed in " + ModelFiles.INDEX + " but missing from the shard");
                }
            }
        }
        return out;
    }

    private static Map<String, String> readIndex(Path idx) {
        JsonNode root = SafeFiles.readJson(idx, "the shard index");
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new KeelException(idx + ": missing field 'weight_map'");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new KeelException(idx + ": field 'weight_map': tensor '" + SafeFiles.printable(e.getKey())
                        + "' must name a shard file (a string), got " + e.getValue().getNodeType().toString().toLowerCase());
            }
            m.put(e.getKey(), e.getValue().asText());
        }
        return m;
    }

    static String files(Map<String, Source> sources) {
        Set<String> files = new LinkedHashSet<>();
        sources.values().forEach(s -> files.add(s.header().file().getFileName().toString()));
        return String.join(", ", files);
    }
}
