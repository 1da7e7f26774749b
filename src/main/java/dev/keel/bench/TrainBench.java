package dev.keel.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.data.Ids;
import dev.keel.data.LmExample;
import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.FusedAdamW;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.LmTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.BatchBackward;
import dev.keel.train.Optimizers;
import dev.keel.train.Task;

/**
 * Train-step throughput: one SFT step (forward, loss, backward, AdamW) or one DPO step (chosen and rejected
 * through one forward, precomputed reference log-probs), on a GPT-2-shaped model with random weights and
 * random tokens; median of repeated steps after a warm-up. Also the matmul peak of this machine, for MFU.
 */
public final class TrainBench {
    /** A model shape of the performance issue. */
    public record Shape(String name, int layers, int dim, int heads, int vocab, int seq, int batch) {
        /** Parameters that count in 6·N·tokens: every weight but the position embedding. */
        long params() {
            long d = dim;
            return (long) vocab * d + layers * (12 * d * d + 13 * d) + 2 * d;
        }
    }

    public static final Shape TINY = new Shape("tiny", 4, 256, 4, 4096, 128, 16);
    public static final Shape GPT2_SMALL = new Shape("gpt2-small", 12, 768, 12, 50257, 128, 4);

    private TrainBench() {}

    public record Result(double secondsPerStep, double tokensPerSecond, double mfu, double flops) {
        /** This result with its MFU against {@code peakFlops}. */
        public Result withPeak(double peakFlops) {
            return new Result(secondsPerStep, tokensPerSecond, flops / secondsPerStep / peakFlops, flops);
        }
    }

    public static CausalLM writeModel(Shape s, Path dir) throws IOException {
        CausalLM m = ModelInit.random(ConfigFactory.gpt2(s.vocab(), s.dim(), s.layers(), s.heads(), s.seq(), 0, 0), 5, null);
        ModelFiles.save(m, dir);
        return ModelFiles.load(dir, null, null);
    }

    /**
     * Model FLOPs of one step: 6·N per token (forward and backward) plus attention, 12·L·T·d per token, with the
     * output head's 6·vocab·d counted only at the {@code headColumns} of each sequence where the loss reads it
     * (DPO's completion columns; every column for SFT), so that work a step rightly skips does not count as done.
     */
    static double flopsPerStep(Shape s, long sequences, long headColumns) {
        double tokens = (double) sequences * s.seq();
        double head = (double) s.vocab() * s.dim();
        return 6.0 * (s.params() - head) * tokens + 6.0 * head * sequences * headColumns
                + 12.0 * s.layers() * s.seq() * s.dim() * tokens;
    }

    public static Result sft(CausalLM model, Shape s, int repeats, double peakFlops) {
        return time(model, new LmTask(model, 0), sftBatch(s), s, s.batch(), s.seq(), repeats, peakFlops);
    }

    /** The SFT case's batch: {@code s.batch()} rows of {@code s.seq()} random tokens, every one counted. */
    static List<LmExample> sftBatch(Shape s) {
        Random r = new Random(1);
        List<LmExample> batch = new ArrayList<>();
        for (int i = 0; i < s.batch(); i++) {
            long[] ids = random(r, s.seq(), s.vocab());
            long[] mask = new long[ids.length];
            Arrays.fill(mask, 1);
            batch.add(new LmExample(0, ids, mask));
        }
        return batch;
    }

    /**
     * SFT on exactly the token rows a DPO step of this shape processes (chosen and rejected of every pair, so
     * 2 x batch sequences): the like-for-like base of the DPO memory comparison.
     */
    public static Result sftOnDpoRows(CausalLM model, Shape s, int repeats, double peakFlops) {
        List<LmExample> batch = new ArrayList<>();
        for (PreferencePair p : pairs(s)) {
            for (long[] completion : List.of(p.chosenIds(), p.rejectedIds())) {
                long[] ids = Ids.concat(p.promptIds(), completion);
                long[] mask = new long[ids.length];
                Arrays.fill(mask, 1);
                batch.add(new LmExample(0, ids, mask));
            }
        }
        return time(model, new LmTask(model, 0), batch, s, 2L * s.batch(), s.seq(), repeats, peakFlops);
    }

    public static Result dpo(CausalLM model, Shape s, int repeats, double peakFlops) {
        List<PreferencePair> pairs = pairs(s);
        double[] chosen = new double[pairs.size()];
        double[] rejected = new double[pairs.size()];
        java.util.Arrays.fill(chosen, -400);
        java.util.Arrays.fill(rejected, -410);
        return time(model, new DpoTask(model, 0, DpoConfig.defaults(), ReferenceLogps.of(pairs, chosen, rejected)),
                pairs, s, 2L * s.batch(), s.seq() - s.seq() / 2 + 1, repeats, peakFlops);  // CompletionForward's columns
    }

    /** Random pairs: a prompt of half the sequence, chosen and rejected of the other half; fixed reference log-probs. */
    private static List<PreferencePair> pairs(Shape s) {
        Random r = new Random(2);
        List<PreferencePair> batch = new ArrayList<>();
        int half = s.seq() / 2;
        for (int i = 0; i < s.batch(); i++) {
            batch.add(new PreferencePair(i, random(r, half, s.vocab()), random(r, s.seq() - half, s.vocab()),
                    random(r, s.seq() - half, s.vocab()), 0));
        }
        return batch;
    }

    private static <T> Result time(CausalLM model, Task<T> task, List<T> batch, Shape s, long sequences,
                                   long headColumns, int repeats, double peakFlops) {
        double sec = medianStepSeconds(model, task, batch, repeats);
        double flops = flopsPerStep(s, sequences, headColumns);
        return new Result(sec, sequences * s.seq() / sec, flops / sec / peakFlops, flops);
    }

    /**
     * Untimed train steps before the timed ones, here and in the PyTorch reference (torch_reference.py's
     * {@code median_step_seconds}): the first allocates the optimizer state, and the second still grows the heap. A
     * DPO step at the Qwen2.5-0.5B shape in full float32 ran 41.4, 32.5, then 19.5, 17.3, 18.0 s in Keel and
     * 34.1 (the second), then 22.8, 20.8, 30.9 s in PyTorch: the second step's page faults (first touches of memory
     * the allocator had not held yet) are the process's start-up, not a step's cost.
     */
    static final int WARMUP_STEPS = 2;

    /**
     * The median time of {@code repeats} train steps (forward, loss, backward as {@link BatchBackward} runs them,
     * AdamW over what the model trains: every weight, or its adapters) after {@link #WARMUP_STEPS} untimed ones.
     */
    static <T> double medianStepSeconds(CausalLM model, Task<T> task, List<T> batch, int repeats) {
        model.parameters().forEach(t -> t.set_requires_grad(true));
        FusedAdamW opt = Optimizers.adamW(model.trainable(), OptimConfig.defaults(1e-5));
        double[] secs = new double[repeats];
        for (int i = -WARMUP_STEPS; i < repeats; i++) {
            long t0 = System.nanoTime();
            try (PointerScope scope = new PointerScope()) {
                BatchBackward.run(task, batch, task.weight(batch), dev.keel.model.BackwardPass.splittable(model)); // as the training loop runs a batch
                Optimizers.step(opt, model.parameters(), 1e-5, 1.0);
            }
            if (i >= 0) {
                secs[i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        opt.close();
        return median(secs);
    }

    /**
     * The median of {@code values} as Python's {@code statistics.median} takes it, which the PyTorch reference
     * reports: the middle value, or the mean of the two middle ones when their number is even.
     */
    public static double median(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("the median of no values");
        }
        double[] s = values.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
    }

    /**
     * FLOP/s of a 768 x 768 x 3072 float32 matmul (the GPT-2-small MLP shape), the fastest of 20: the peak this
     * machine reaches for the products a train step is made of.
     */
    public static double matmulPeak() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor a = torch.randn(768, 768);
            Tensor b = torch.randn(768, 3072);
            return 2.0 * 768 * 768 * 3072 / fastestSeconds(3, 20, () -> torch.mm(a, b).close());
        }
    }

    /** The fastest of {@code runs} timed calls of {@code work}, in seconds, after {@code warmups} untimed ones. */
    static double fastestSeconds(int warmups, int runs, Runnable work) {
        for (int i = 0; i < warmups; i++) {
            work.run();
        }
        double best = Double.MAX_VALUE;
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            work.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    private static long[] random(Random r, int n, int vocab) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(vocab);
        }
        return a;
    }
}
