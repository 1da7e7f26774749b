package dev.keel.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ArchiveWriter;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.io.AtomicFolder;
import dev.keel.io.SafeFiles;

/**
 * The {@code checkpoint-<step>/} folders of a run: the model, the optimizer state, libtorch's RNG state and the
 * trainer's own state (a JSON object marked as Keel's). A checkpoint is written into a hidden temporary folder and
 * renamed, so a folder of that name is always complete; only the newest {@code keep} are kept.
 *
 * <p>Keel deletes only checkpoints it can prove it wrote: a {@code checkpoint-N/} without Keel's state file (say, a
 * user's, or transformers') is never pruned, overwritten or resumed from. A failed write (a full disk) removes its
 * partial folder and names the last intact checkpoint.
 */
public final class Checkpoints {
    public static final String STATE_FILE = "trainer_state.json";
    /** The field of {@link #STATE_FILE} that marks a checkpoint as Keel's. */
    private static final String MARK = "written_by";
    private static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final int keep;

    public Checkpoints(Path dir, int keep) {
        this.dir = dir;
        this.keep = keep;
    }

    /** Writes {@code checkpoint-<step>} atomically and prunes the oldest beyond the limit. */
    public Path save(long step, ModelState model, FusedAdamW opt, ObjectNode state) {
        Path fin = dir.resolve(PREFIX + step);
        // a hidden name only Keel uses; the output folder's lock makes this process its only writer
        Path tmp = dir.resolve("." + PREFIX + step + ".keel-partial");
        if (Files.exists(fin) && !isKeels(fin)) {
            throw new KeelException(fin + " exists and was not written by Keel (no " + STATE_FILE + " of Keel's); "
                    + "move it away or choose another --out");
        }
        try {
            AtomicFolder.deleteTree(tmp);
            long params = model.parameters().values().stream().mapToLong(Tensor::nbytes).sum();
            ModelFiles.checkSpace(dir, 3 * params); // the weights and AdamW's two moments
            Files.createDirectories(tmp);
            model.save(tmp);
            try (PointerScope scope = new PointerScope()) {
                OutputArchive a = new OutputArchive();
                opt.save(a);
                writeArchive(a, tmp.resolve("optimizer.pt"));
                Safetensors.write(tmp.resolve("rng_state.safetensors"),
                        Map.of("torch_cpu", torch.getDefaultCPUGenerator().get_state()), null);
            }
            ObjectNode marked = state.deepCopy();
            marked.put(MARK, "keel");
            ModelFiles.writeJson(tmp.resolve(STATE_FILE), marked);
            AtomicFolder.deleteTree(fin);
            Files.move(tmp, fin, StandardCopyOption.ATOMIC_MOVE);
            prune();
            return fin;
        } catch (IOException | RuntimeException e) {
            try {
                AtomicFolder.deleteTree(tmp);
            } catch (IOException ignored) {
                // the write's failure is the one to report
            }
            Path last = latest(dir);
            String why = e instanceof KeelException ? e.getMessage() : e.getClass().getSimpleName() + ": " + e.getMessage();
            throw new KeelException("cannot write checkpoint " + fin + ": " + why + "; its partial folder was removed. "
                    + (last != null ? "The last intact checkpoint is " + last + "." : "No checkpoint was written before."), e);
        }
    }

    /**
     * Writes libtorch's archive through Java I/O: a write that fails (a full disk) is remembered and reported here
     * instead of surfacing inside libtorch, which aborts the JVM when its own file writer fails.
     */
    private static void writeArchive(OutputArchive a, Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            IOException[] failure = new IOException[1];
            ArchiveWriter w = new ArchiveWriter() {
                @Override
                public long call(Pointer data, long size) {
                    if (failure[0] == null && size > 0) {
                        try {
                            ByteBuffer b = new BytePointer(data).capacity(size).limit(size).asByteBuffer();
                            while (b.hasRemaining()) {
                                ch.write(b);
                            }
                        } catch (IOException e) {
                            failure[0] = e;
                        }
                    }
                    return size;
                }
            };
            a.save_to(w);
            if (failure[0] != null) {
                throw failure[0];
            }
            ch.force(true);
        }
    }

    /** Reads {@code ckpt} back into the model, the optimizer and libtorch's generator; returns the trainer state. */
    public static JsonNode restore(Path ckpt, ModelState model, FusedAdamW opt) {
        JsonNode s = SafeFiles.readJson(ckpt.resolve(STATE_FILE), "the trainer state");
        model.load(ckpt);
        Path optimizer = ckpt.resolve("optimizer.pt");
        SafeFiles.requireFile(optimizer, "the optimizer state");
        try {
            InputArchive in = new InputArchive();
            in.load_from(optimizer.toString());
            opt.load(in);
        } catch (RuntimeException e) {
            throw new KeelException(optimizer + ": unreadable optimizer state ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")", e);
        }
        Safetensors.Header h = Safetensors.readHeader(ckpt.resolve("rng_state.safetensors"));
        torch.getDefaultCPUGenerator().set_state(Safetensors.read(h, "torch_cpu"));
        return s;
    }

    /** The complete Keel checkpoint with the highest step in {@code dir}, or null. */
    public static Path latest(Path dir) {
        List<Path> all = all(dir);
        return all.isEmpty() ? null : all.get(all.size() - 1);
    }

    /** Keel's complete checkpoints in {@code dir}, oldest first (none when {@code dir} does not exist). */
    public static List<Path> all(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.filter(Checkpoints::isKeels).sorted(Comparator.comparingLong(Checkpoints::stepOf)).toList();
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** Whether {@code p} is a {@code checkpoint-N} folder whose state file carries Keel's mark. */
    private static boolean isKeels(Path p) {
        if (!p.getFileName().toString().matches(PREFIX + "\\d{1,18}") || !Files.isDirectory(p)) {
            return false;
        }
        Path state = p.resolve(STATE_FILE);
        if (!Files.isRegularFile(state)) {
            return false;
        }
        try {
            return "keel".equals(JSON.readTree(state.toFile()).path(MARK).asText());
        } catch (IOException e) {
            return false;
        }
    }

    private static long stepOf(Path p) {
        return Long.parseLong(p.getFileName().toString().substring(PREFIX.length()));
    }

    private void prune() throws IOException {
        List<Path> all = all(dir);
        for (int i = 0; i < all.size() - keep; i++) {
            AtomicFolder.deleteTree(all.get(i));
        }
    }
}
