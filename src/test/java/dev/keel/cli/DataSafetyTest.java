package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelFiles;
import dev.keel.train.Checkpoints;
import dev.keel.train.ModelState;

/**
 * What Keel does to the files it is given and the folders it writes when things go wrong: a kill during a save,
 * a second run on the same folder, SIGTERM during training, a folder that only looks like a checkpoint, a
 * corrupt checkpoint on --resume, a full disk, and an index that points outside its model folder.
 */
class DataSafetyTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    private static Process child(Path log, String mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        return pb.start();
    }

    private static void waitFor(Path log, String text, Process p, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!Files.readString(log).contains(text)) {
            assertTrue(p.isAlive(), "the child ended before '" + text + "': " + Files.readString(log));
            assertTrue(System.nanoTime() < deadline, "no '" + text + "' in " + seconds + " s: " + Files.readString(log));
            Thread.sleep(20);
        }
    }

    /** The child of the kill test: saves a 60 MB model into a folder again and again, all weights = the round. */
    public static final class SaveLoop {
        public static void main(String[] a) {
            TestSupport.init();
            CausalLM m = ModelInit.random(ConfigFactory.llama(8000, 512, 4, 8, 8, 1024, 128, 10000, false, 0, 0), 1, null);
            for (int round = 1; ; round++) {
                try (NoGradGuard ng = new NoGradGuard()) {
                    for (Tensor t : m.weights().values()) {
                        t.fill_(new Scalar(round));
                    }
                }
                System.out.println("saving " + round);
                ModelFiles.save(m, Path.of(a[0]));
            }
        }
    }

    /**
     * SIGKILL at several moments during saves into a folder that already holds a model: each time the folder holds a
     * whole model that loads, every weight from one single save (the old one or the new one, never a mix), and the
     * user's own file in the folder is still there.
     */
    @Test
    void sigkillDuringASaveIntoAFolderThatHoldsAModelLeavesTheOldModelLoadable() throws Exception {
        Path dir = tmp.resolve("model");
        Path log = tmp.resolve("save.log");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("notes.txt"), "the user's\n");
        for (int kill = 0; kill < 4; kill++) {
            Process p = child(log, SaveLoop.class.getName(), dir.toString());
            waitFor(log, "saving 2", p, 240); // round 1 is complete: the folder holds a model
            Thread.sleep(150 + 170L * kill);   // then somewhere inside a later save
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            CausalLM back = ModelFiles.load(dir, null, null);
            Double value = null;
            for (Map.Entry<String, Tensor> e : back.weights().entrySet()) {
                double lo = e.getValue().min().item_double();
                double hi = e.getValue().max().item_double();
                assertEquals(lo, hi, e.getKey() + " holds values of two saves");
                if (value == null) {
                    value = lo;
                }
                assertEquals(value, lo, e.getKey() + " is from another save than the others");
            }
            assertTrue(value >= 1, "a whole save: " + value);
            assertEquals("the user's\n", Files.readString(dir.resolve("notes.txt")));
        }
        // the next save tidies what the killed ones left beside the folder
        ModelFiles.save(ModelFiles.load(dir, null, null), dir);
        try (var s = Files.list(tmp)) {
            List<String> left = s.map(p -> p.getFileName().toString()).filter(n -> n.contains(".keel-")).toList();
            assertEquals(List.of(), left);
        }
    }

    private Path sftData() throws IOException {
        StringBuilder b = new StringBuilder();
        for (String s : TinyModels.sentences()) {
            b.append("{\"text\": \"").append(s).append("\"}\n");
        }
        return Files.writeString(tmp.resolve("sft.jsonl"), b.toString());
    }

    /**
     * A second run on an --out that a running one holds fails at once, naming the first one's pid and changing
     * nothing; then SIGTERM stops the first at a step boundary within seconds, with a message naming its last
     * intact checkpoint, and that checkpoint loads.
     */
    @Test
    void aSecondRunOnTheSameOutFailsNamingTheFirstAndSigtermStopsTheFirstAtASafePoint() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("train.log");
        Process p = child(log, Main.class.getName(), "sft", "--model", model.toString(), "--data", sftData().toString(),
                "--out", out.toString(), "--max-steps", "100000", "--batch-size", "2", "--save-every", "2",
                "--save-total-limit", "1", "--lr", "1e-4");
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
            while (Checkpoints.latest(out) == null) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, Files.readString(log));
                Thread.sleep(50);
            }
            TestSupport.Run second = TestSupport.keel("sft", "--model", model.toString(), "--data",
                    tmp.resolve("sft.jsonl").toString(), "--out", out.toString(), "--resume", "--max-steps", "3");
            assertEquals(1, second.code(), second.err());
            assertTrue(second.err().contains(out + " is in use by another keel process (pid " + p.pid() + ","),
                    second.err());
            assertTrue(p.isAlive(), "the first run goes on");
            // the experiment's commands take the same lock
            TestSupport.Run report = TestSupport.keel("experiment", "sentiment", "--out", out.toString(), "--report-only");
            assertEquals(1, report.code(), report.err());
            assertTrue(report.err().contains(out + " is in use by another keel process (pid " + p.pid() + ","),
                    report.err());

            long t0 = System.nanoTime();
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "SIGTERM did not stop training within 20 s");
            double seconds = (System.nanoTime() - t0) / 1e9;
            String text = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(1, p.exitValue(), text);
            assertTrue(text.contains("keel sft: error: stopped by SIGTERM after step "), text);
            Path last = Checkpoints.latest(out);
            assertTrue(text.contains("the last intact checkpoint is " + last), text);
            assertFalse(text.contains("\tat "), text);
            ModelFiles.load(last, null, null);
            assertTrue(seconds < 20, "stopped after " + seconds + " s");
        } finally {
            p.destroyForcibly();
        }
    }

    /** A folder named like a checkpoint that Keel did not write is never pruned, overwritten or resumed from. */
    @Test
    void aCheckpointFolderWithoutKeelsStateFileIsLeftAlone() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("out");
        Path mine = Files.createDirectories(out.resolve("checkpoint-0"));
        Files.writeString(mine.resolve("results.csv"), "precious\n");
        Path hf = Files.createDirectories(out.resolve("checkpoint-1"));
        Files.writeString(hf.resolve("trainer_state.json"), "{\"global_step\": 1}"); // transformers', not Keel's
        TestSupport.Run r = TestSupport.keel("sft", "--model", model.toString(), "--data", sftData().toString(),
                "--out", out.toString(), "--max-steps", "6", "--batch-size", "2", "--save-every", "2",
                "--save-total-limit", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals("precious\n", Files.readString(mine.resolve("results.csv")));
        assertEquals("{\"global_step\": 1}", Files.readString(hf.resolve("trainer_state.json")));
        assertEquals(out.resolve("checkpoint-4"), Checkpoints.latest(out));
        assertFalse(Files.exists(out.resolve("checkpoint-2")), "Keel's own older checkpoint is pruned");
    }

    /**
     * --resume from a checkpoint whose weights were truncated names the file and falls back to the previous intact
     * checkpoint; with no intact one left it stops, naming the files.
     */
    @Test
    void aCorruptCheckpointOnResumeIsNamedAndThePreviousOneIsUsed() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        Path out = tmp.resolve("out");
        String[] common = {"sft", "--model", model.toString(), "--data", sftData().toString(), "--out", out.toString(),
                "--max-steps", "8", "--batch-size", "2", "--save-every", "2", "--save-total-limit", "5"};
        assertEquals(0, TestSupport.keel(common).code());
        Path bad = out.resolve("checkpoint-6/model.safetensors");
        byte[] all = Files.readAllBytes(bad);
        Files.write(bad, java.util.Arrays.copyOf(all, all.length / 2));
        List<String> resume = new ArrayList<>(List.of(common));
        resume.add("--resume");
        TestSupport.Run r = TestSupport.keel(resume.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("cannot resume from checkpoint-6: " + bad), r.err());
        assertTrue(r.err().contains("resuming from " + out.resolve("checkpoint-4")), r.err());

        for (String c : List.of("checkpoint-2", "checkpoint-4", "checkpoint-6")) {
            Files.write(out.resolve(c).resolve("optimizer.pt"), "not an archive".getBytes(StandardCharsets.US_ASCII));
        }
        TestSupport.Run none = TestSupport.keel(resume.toArray(String[]::new));
        assertEquals(1, none.code(), none.err());
        assertTrue(none.err().contains("no checkpoint in " + out + " reads back whole"), none.err());
        assertTrue(none.err().contains(out.resolve("checkpoint-2/optimizer.pt").toString()), none.err());
        assertFalse(none.err().contains("\tat "), none.err());
    }

    /**
     * A checkpoint write that fails with a full disk (ENOSPC, from /dev/full) removes its partial folder and names
     * the last intact checkpoint.
     */
    @Test
    void aFullDiskDuringACheckpointRemovesThePartialFolderAndNamesTheLastIntactOne() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("base"), 3);
        CausalLM m = ModelFiles.load(model, null, null);
        Path out = Files.createDirectories(tmp.resolve("out"));
        var opt = dev.keel.train.Optimizers.adamW(m.weights(), dev.keel.train.OptimConfig.defaults(1e-3));
        var state = TestSupport.JSON.createObjectNode().put("seed", 1);
        Checkpoints ck = new Checkpoints(out, 3);
        ModelState ok = new dev.keel.train.CausalLMState(m, model);
        ck.save(2, ok, opt, state);
        ModelState full = new ModelState() {
            @Override
            public Map<String, Tensor> parameters() {
                return m.weights();
            }

            @Override
            public void save(Path dir) {
                try {
                    Path f = Files.createSymbolicLink(dir.resolve("model.safetensors"), Path.of("/dev/full"));
                    Files.write(f, new byte[1 << 16]);
                } catch (IOException e) {
                    throw new KeelException(dir + ": cannot write: " + e.getMessage(), e);
                }
            }

            @Override
            public void load(Path dir) {
                throw new UnsupportedOperationException();
            }
        };
        KeelException e = assertThrows(KeelException.class, () -> ck.save(4, full, opt, state));
        assertTrue(e.getMessage().contains("cannot write checkpoint " + out.resolve("checkpoint-4")), e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        assertTrue(e.getMessage().contains("The last intact checkpoint is " + out.resolve("checkpoint-2")), e.getMessage());
        try (var s = Files.list(out)) {
            assertEquals(List.of("checkpoint-2"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        // the disk fills while libtorch writes the optimizer state: reported here, the JVM does not abort
        ModelState fullOptimizer = new ModelState() {
            @Override
            public Map<String, Tensor> parameters() {
                return m.weights();
            }

            @Override
            public void save(Path dir) {
                ok.save(dir);
                try {
                    Files.createSymbolicLink(dir.resolve("optimizer.pt"), Path.of("/dev/full"));
                } catch (IOException x) {
                    throw new java.io.UncheckedIOException(x);
                }
            }

            @Override
            public void load(Path dir) {
                throw new UnsupportedOperationException();
            }
        };
        KeelException o = assertThrows(KeelException.class, () -> ck.save(6, fullOptimizer, opt, state));
        assertTrue(o.getMessage().contains("cannot write checkpoint " + out.resolve("checkpoint-6")) && o.getMessage()
                .contains("No space left on device") && o.getMessage().contains("The last intact checkpoint is "
                + out.resolve("checkpoint-2")), o.getMessage());
        try (var s = Files.list(out)) {
            assertEquals(List.of("checkpoint-2"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(out.resolve("checkpoint-2"), Checkpoints.latest(out));
    }

    /**
     * A model folder of Hugging Face's hub cache ({@code models--ORG--NAME/snapshots/REV/}, every file a link to
     * {@code ../../blobs/HASH}) loads: its links stay inside the repository folder. A link out of it does not.
     */
    @Test
    void aHubCacheSnapshotWhoseFilesLinkToItsBlobsLoads() throws Exception {
        Path base = TinyModels.llama(tmp.resolve("base"), 3);
        Path repo = tmp.resolve("hub/models--keel--tiny");
        Path blobs = Files.createDirectories(repo.resolve("blobs"));
        Path snap = Files.createDirectories(repo.resolve("snapshots/0123abcd"));
        int i = 0;
        try (var s = Files.list(base)) {
            for (Path f : (Iterable<Path>) s::iterator) {
                Path blob = Files.copy(f, blobs.resolve("blob" + i++));
                Files.createSymbolicLink(snap.resolve(f.getFileName()), Path.of("../../blobs").resolve(blob.getFileName()));
            }
        }
        CausalLM m = ModelFiles.load(snap, null, null);
        assertEquals(ModelFiles.load(base, null, null).config().vocabSize(), m.config().vocabSize());
        try (var tok = dev.keel.tokenizer.Tokenizer.load(snap)) {
            assertTrue(tok.encode("The movie was great.", false).length > 0);
        }
        Path outside = Files.copy(base.resolve("config.json"), tmp.resolve("hub/config.json"));
        Files.delete(snap.resolve("config.json"));
        Files.createSymbolicLink(snap.resolve("config.json"), outside);
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(snap, null, null));
        assertTrue(e.getMessage().contains("'config.json' (the model's configuration) is a symbolic link to a file "
                + "outside the model folder"), e.getMessage());
    }

    /**
     * An index whose weight_map names a FIFO outside the folder (or a link to one inside it) is refused before the
     * FIFO is opened: opening a FIFO with no writer blocks, so an open would hang this test.
     */
    @Test
    void aPathTraversingIndexIsRefusedWithoutOpeningTheOutsideFile() throws Exception {
        Path fifo = tmp.resolve("outside.safetensors");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mk.waitFor());
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Files.copy(TestSupport.fixture("parity/gpt2-tiny/config.json"), dir.resolve("config.json"));
        for (String name : List.of("../outside.safetensors", fifo.toString(), "inside-link.safetensors")) {
            if (name.startsWith("inside")) {
                Files.createSymbolicLink(dir.resolve(name), fifo);
            }
            Files.writeString(dir.resolve("model.safetensors.index.json"),
                    "{\"weight_map\": {\"transformer.wte.weight\": \"" + name + "\"}}");
            KeelException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null)), name);
            assertTrue(e.getMessage().contains("'" + name + "'") && e.getMessage().contains("outside the model folder"),
                    e.getMessage());
        }
    }
}
