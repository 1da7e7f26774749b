package dev.keel.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import dev.keel.generate.BatchGenerator;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelFiles;

/**
 * Generation throughput with the KV cache: greedy, fixed prompt length, a fixed number of new tokens (no
 * EOS), the fastest of repeated runs after untimed warm-up runs (the JIT compiles the
 * Java side in the first ones), on a small Llama-shaped model with random weights.
 */
public final class GenerateBench {
    /** The shape: 4 layers, d = 256, 4 heads, vocab 4,096 (the "tiny" shape of the performance issue). */
    public static final int LAYERS = 4;
    public static final int DIM = 256;
    public static final int HEADS = 4;
    public static final int FF = 688;
    public static final int VOCAB = 4096;
    public static final int PROMPT_LEN = 16;

    private GenerateBench() {}

    /**
     * One measured configuration: the fastest run's seconds and tokens/s, and that run's seconds to its first token
     * (the prompt's forward pass, the head and the first pick, up to where the generator checks the first token).
     */
    public record Result(int batch, int newTokens, double seconds, double tokensPerSecond, double firstTokenSeconds) {}

    /** Writes the benchmark model into {@code dir} (so the PyTorch reference loads the same weights). */
    public static CausalLM writeModel(Path dir) throws IOException {
        Files.createDirectories(dir);
        CausalLM m = ModelInit.random(ConfigFactory.llama(VOCAB, DIM, LAYERS, HEADS, HEADS, FF, 512, 10000, false, 1, 2),
                11, null);
        ModelFiles.save(m, dir);
        return ModelFiles.load(dir, null, null);
    }

    public static Result run(CausalLM model, int batch, int newTokens, int repeats, int warmup) {
        Random r = new Random(batch);
        List<long[]> prompts = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            long[] p = new long[PROMPT_LEN];
            for (int j = 0; j < p.length; j++) {
                p[j] = 3 + r.nextInt(VOCAB - 3);
            }
            prompts.add(p);
        }
        SamplingConfig cfg = SamplingConfig.greedy(newTokens, Set.of()).withoutLogProbs(); // as the reference: tokens only
        for (int i = 0; i < warmup; i++) {
            BatchGenerator.generate(model, prompts, cfg, StopCriterion.NEVER, 0);
        }
        double best = Double.POSITIVE_INFINITY;
        double bestFirst = Double.NaN;
        for (int i = 0; i < repeats; i++) {
            long[] first = {0};
            // never stops; the generator asks it about each row's token as soon as the token is picked
            StopCriterion mark = (prompt, generated) -> {
                if (first[0] == 0) {
                    first[0] = System.nanoTime();
                }
                return false;
            };
            long t0 = System.nanoTime();
            BatchGenerator.generate(model, prompts, cfg, mark, 0);
            double sec = (System.nanoTime() - t0) / 1e9;
            // the fastest run: on a shared machine the others are slower for reasons outside the program
            if (sec < best) {
                best = sec;
                bestFirst = first[0] == 0 ? Double.NaN : (first[0] - t0) / 1e9;   // NaN: no token was picked
            }
        }
        return new Result(batch, newTokens, best, batch * newTokens / best, bestFirst);
    }

}
