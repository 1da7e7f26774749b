package dev.keel.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;
import dev.keel.dist.Distributed;
import dev.keel.io.AtomicFolder;
import dev.keel.io.OutputLock;
import dev.keel.model.io.ModelFiles;
import dev.keel.train.Checkpoints;
import dev.keel.train.SettingsJson;

/** The output folder of a training run: created only after the input validated; run_config.json. */
final class RunFolder {
    private RunFolder() {}

    /**
     * Creates {@code out} (refusing to overwrite checkpoints without --resume) and writes run_config.json: the
     * command and its settings record, serialised as it is ({@link SettingsJson}).
     */
    static void prepare(Path out, boolean resume, String command, Object settings) {
        checkOut(out);
        AtomicFolder.recover(out);
        refuseOldCheckpoints(out, resume);
        createLocked(out);
        refuseOldCheckpoints(out, resume); // again: another run may have written some before the lock was ours
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("command", command);
        o.set("settings", SettingsJson.of(settings));
        ModelFiles.writeJson(out.resolve("run_config.json"), o);
    }

    /**
     * {@link #prepare(Path, boolean, String, Object)} on rank 0 of a data-parallel run, which alone writes the
     * output folder; the other ranks leave it alone.
     */
    static void prepare(Distributed dist, Path out, boolean resume, String command, Object settings) {
        if (dist.isMain()) {
            prepare(out, resume, command, settings);
        }
    }

    private static void refuseOldCheckpoints(Path out, boolean resume) {
        if (!resume && Checkpoints.latest(out) != null) {
            throw new KeelException(out + " holds checkpoints of an earlier run; pass --resume to continue it, or "
                    + "choose another --out");
        }
    }

    /** Creates {@code out} and takes its lock, for commands without checkpoints (the demo, the experiment). */
    static void createAndLock(Path out) {
        checkOut(out);
        createLocked(out);
    }

    private static void checkOut(Path out) {
        if (out.toString().isBlank()) {
            throw new KeelException("--out must not be empty");
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new KeelException(out + ": is a file; --out must be a folder");
        }
    }

    /** Creates {@code out} and locks it: a second run on the same folder stops at once, naming the first. */
    private static void createLocked(Path out) {
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new KeelException(out + ": cannot create: " + e.getMessage(), e);
        }
        OutputLock.acquire(out);
    }

    /** Splits off a held-out fraction, the same records for the same seed. */
    static <T> List<List<T>> split(List<T> all, double fraction, long seed) {
        if (fraction <= 0) {
            return List.of(all, List.of());
        }
        List<T> shuffled = new ArrayList<>(all);
        Collections.shuffle(shuffled, new Random(seed));
        int n = (int) Math.max(1, Math.round(all.size() * fraction));
        if (n >= all.size()) {
            throw new KeelException("--eval-fraction " + fraction + " leaves no training records out of " + all.size());
        }
        return List.of(shuffled.subList(n, shuffled.size()), shuffled.subList(0, n));
    }
}
