package dev.keel.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.AdamW;

import dev.keel.KeelException;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.runtime.Proc;

/**
 * The {@code checkpoint-<step>/} folders of a run: the model, the optimizer state, libtorch's RNG state and the
 * trainer's own state (a JSON object). A checkpoint is written into a temporary folder and renamed, so a folder
 * of that name is always complete; only the newest {@code keep} are kept.
 */
public final class Checkpoints {
    public static final String STATE_FILE = "trainer_state.json";
    private static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final int keep;

    public Checkpoints(Path dir, int keep) {
        this.dir = dir;
        this.keep = keep;
    }

    /** Writes {@code checkpoint-<step>} atomically and prunes the oldest beyond the limit. */
    public Path save(long step, ModelState model, AdamW opt, ObjectNode state) {
        Path fin = dir.resolve(PREFIX + step);
        Path tmp = dir.resolve(PREFIX + step + ".tmp");
        try {
            Proc.deleteTree(tmp);
            Files.createDirectories(tmp);
            model.save(tmp);
            try (PointerScope scope = new PointerScope()) {
                OutputArchive a = new OutputArchive();
                opt.save(a);
                a.save_to(tmp.resolve("optimizer.pt").toString());
                Safetensors.write(tmp.resolve("rng_state.safetensors"),
                        Map.of("torch_cpu", torch.getDefaultCPUGenerator().get_state()), null);
            }
            ModelFiles.writeJson(tmp.resolve(STATE_FILE), state);
            Proc.deleteTree(fin);
            Files.move(tmp, fin, StandardCopyOption.ATOMIC_MOVE);
            prune();
            return fin;
        } catch (IOException e) {
            throw new KeelException("cannot write checkpoint " + fin + ": " + e.getMessage(), e);
        }
    }

    /** Reads {@code ckpt} back into the model, the optimizer and libtorch's generator; returns the trainer state. */
    public static JsonNode restore(Path ckpt, ModelState model, AdamW opt) {
        JsonNode s;
        try {
            s = JSON.readTree(Files.readString(ckpt.resolve(STATE_FILE)));
        } catch (IOException e) {
            throw new KeelException(ckpt.resolve(STATE_FILE) + ": cannot read: " + e.getMessage(), e);
        }
        model.load(ckpt);
        InputArchive in = new InputArchive();
        in.load_from(ckpt.resolve("optimizer.pt").toString());
        opt.load(in);
        Safetensors.Header h = Safetensors.readHeader(ckpt.resolve("rng_state.safetensors"));
        torch.getDefaultCPUGenerator().set_state(Safetensors.read(h, "torch_cpu"));
        return s;
    }

    /** The complete checkpoint with the highest step in {@code dir}, or null. */
    public static Path latest(Path dir) {
        if (!Files.isDirectory(dir)) {
            return null;
        }
        try (var s = Files.list(dir)) {
            return s.filter(Checkpoints::isCheckpoint).filter(p -> Files.isRegularFile(p.resolve(STATE_FILE)))
                    .max(Comparator.comparingLong(Checkpoints::stepOf)).orElse(null);
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    private static boolean isCheckpoint(Path p) {
        return p.getFileName().toString().matches(PREFIX + "\\d+");
    }

    private static long stepOf(Path p) {
        return Long.parseLong(p.getFileName().toString().substring(PREFIX.length()));
    }

    private void prune() throws IOException {
        List<Path> all;
        try (var s = Files.list(dir)) {
            all = s.filter(Checkpoints::isCheckpoint).sorted(Comparator.comparingLong(Checkpoints::stepOf)).toList();
        }
        for (int i = 0; i < all.size() - keep; i++) {
            Proc.deleteTree(all.get(i));
        }
    }
}
