package dev.keel.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import dev.keel.KeelException;

/**
 * Keel's own small base model, shipped inside the jar (resources {@code dev/keel/models/keel-base/}): a
 * Llama-style decoder pretrained by {@code keel pretrain} on review sentences and Jane Austen (the exact
 * command is in the model card, {@code README.md} in that folder). Commands use it when no {@code --model} is
 * given. It is copied once into {@code $KEEL_HOME/models/} (default {@code ~/.cache/keel}), atomically.
 */
public final class EmbeddedModel {
    public static final String NAME = "keel-base";
    private static final String RESOURCE = "/dev/keel/models/" + NAME + "/";
    private static final List<String> FILES = List.of("config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "README.md");

    private EmbeddedModel() {}

    /** The model folder on disk, extracted from the jar on first use. */
    public static synchronized Path path() {
        Path home = home().resolve("models");
        long size = resourceSize("model.safetensors");
        Path dir = home.resolve(NAME + "-" + Long.toHexString(size));
        if (Files.isRegularFile(dir.resolve("model.safetensors"))) {
            return dir;
        }
        Path tmp = home.resolve(NAME + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(tmp);
            for (String f : FILES) {
                try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCE + f)) {
                    if (in == null) {
                        throw new KeelException("the embedded model is missing " + f + " from the Keel build");
                    }
                    Files.copy(in, tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(dir.resolve("model.safetensors"))) {
                    throw raced;
                }
            }
        } catch (IOException e) {
            throw new KeelException("cannot extract the embedded model into " + dir + ": " + e.getMessage(), e);
        } finally {
            try {
                dev.keel.runtime.Proc.deleteTree(tmp);
            } catch (IOException ignored) {
                // a leftover temporary folder is harmless
            }
        }
        return dir;
    }

    private static long resourceSize(String f) {
        try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCE + f)) {
            if (in == null) {
                throw new KeelException("this Keel build has no embedded model (" + RESOURCE + f + "); pass --model DIR");
            }
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new KeelException("cannot read the embedded model: " + e.getMessage(), e);
        }
    }

    private static Path home() {
        String h = System.getenv("KEEL_HOME");
        return h != null && !h.isBlank() ? Path.of(h) : Path.of(System.getProperty("user.home"), ".cache", "keel");
    }

    /** {@code dir}, or the embedded model when {@code dir} is null. */
    public static Path orDefault(Path dir) {
        return dir != null ? dir : path();
    }
}
