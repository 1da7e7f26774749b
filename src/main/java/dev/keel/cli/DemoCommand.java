package dev.keel.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.KeelException;
import dev.keel.data.ScoringRecord;
import dev.keel.eval.SequenceScorer;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelConfig;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Preview demo: builds a small Llama-style model, saves and reloads it in the Hugging Face "
                + "layout, and scores records in padded batches, checking them against one-at-a-time scoring.",
                "The full PPO-against-DPO demo replaces this once the trainers exist."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", description = "Folder for the model (default: a temporary folder, deleted after).")
    Path out;

    @Override
    public Integer call() throws IOException {
        Main.startNatives();
        PrintWriter o = spec.commandLine().getOut();
        boolean temp = out == null;
        Path dir = temp ? Files.createTempDirectory("keel-demo") : out;
        try {
            ModelConfig cfg = ConfigFactory.llama(512, 128, 4, 4, 2, 352, 256, 10000, false, 1, 2);
            CausalLM model = ModelInit.random(cfg, 1234, null);
            o.printf("1. built a %s model with %,d parameters (random weights)%n", cfg.modelType(), model.numParameters());
            ModelFiles.save(model, dir);
            CausalLM back = ModelFiles.load(dir, null, null);
            boolean exact = true;
            for (Map.Entry<String, Tensor> e : model.weights().entrySet()) {
                exact &= java.util.Arrays.equals(Tensors.toFloats(e.getValue()),
                        Tensors.toFloats(back.weights().get(e.getKey())));
            }
            o.printf("2. saved to %s (config.json + model.safetensors) and reloaded: round trip %s%n", dir,
                    exact ? "bit-exact" : "NOT exact");
            Random r = new Random(7);
            List<ScoringRecord> recs = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                recs.add(new ScoringRecord(i + 1, randomIds(r, 4 + r.nextInt(28)), randomIds(r, 4 + r.nextInt(60))));
            }
            SequenceScorer.score(back, recs.subList(0, 16), 16, 0); // warm-up: first calls pay for set-up
            long t0 = System.nanoTime();
            List<SequenceScorer.Score> batched = SequenceScorer.score(back, recs, 16, 0);
            long t1 = System.nanoTime();
            List<SequenceScorer.Score> alone = SequenceScorer.score(back, recs, 1, 0);
            long t2 = System.nanoTime();
            double maxDiff = 0;
            for (int i = 0; i < recs.size(); i++) {
                maxDiff = Math.max(maxDiff, Math.abs(batched.get(i).logProb() - alone.get(i).logProb()));
            }
            o.printf("3. scored %d records: batches of 16 in %.0f ms, one at a time in %.0f ms; "
                    + "largest difference %.2e nats%n", recs.size(), (t1 - t0) / 1e6, (t2 - t1) / 1e6, maxDiff);
            o.printf("   first record: log p(completion | prompt) = %.3f over %d tokens (uniform would be %.3f)%n",
                    batched.get(0).logProb(), batched.get(0).numTokens(),
                    -batched.get(0).numTokens() * Math.log(cfg.vocabSize()));
            if (!exact || maxDiff > 1e-3) {
                throw new KeelException("demo self-check failed");
            }
            return 0;
        } finally {
            if (temp) {
                deleteTree(dir);
            }
        }
    }

    private static long[] randomIds(Random r, int n) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) {
            a[i] = 3 + r.nextInt(509);
        }
        return a;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
