package dev.keel.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.Compute;
import dev.keel.model.LoraConfig;
import dev.keel.model.ModelInit;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.ReferenceLogps;

/**
 * DPO train steps and decoding at the shapes of released models: their published {@code config.json} (kept in
 * the jar; nothing is downloaded) with random weights. A DPO step is {@link #PAIRS} pairs of {@link #SEQ} tokens
 * with precomputed reference log-probs, in one of the {@link Mode}s: full fine-tuning or LoRA (r 16, alpha 32,
 * every linear layer), f32 or bf16 mixed precision, with or without gradient checkpointing. Each case runs in a
 * fresh process ({@code keel bench --real-case}), so its peak resident size is the case's own.
 */
public final class RealShapeBench {
    public static final int SEQ = 256;
    public static final int PAIRS = 2;
    public static final int LORA_R = 16;
    public static final double LORA_ALPHA = 32;

    private RealShapeBench() {}

    /** The shapes, by the name the bench takes, and their config.json in the jar. */
    public enum Shape {
        SMOLLM2_135M("smollm2-135m", "SmolLM2-135M.json"),
        QWEN25_05B("qwen2.5-0.5b", "Qwen2.5-0.5B.json"),
        QWEN25_15B("qwen2.5-1.5b", "Qwen2.5-1.5B.json");

        public final String key;
        final String resource;

        Shape(String key, String resource) {
            this.key = key;
            this.resource = resource;
        }

        public static Shape of(String key) {
            for (Shape s : values()) {
                if (s.key.equals(key)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("unknown real shape '" + key + "' (smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b)");
        }

        /** The published config.json of the model. */
        public ModelConfig config() {
            try (InputStream in = RealShapeBench.class.getResourceAsStream("shapes/" + resource)) {
                return ModelConfig.fromJson((ObjectNode) new ObjectMapper().readTree(in));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    /** How a DPO step trains. */
    public record Mode(boolean lora, boolean bf16, boolean checkpointing) {
        /** "full", "lora" or "lora-bf16" (or "full-bf16"), with "+ckpt" for gradient checkpointing. */
        public static Mode parse(String s) {
            boolean ckpt = s.endsWith("+ckpt");
            String base = ckpt ? s.substring(0, s.length() - 5) : s;
            return switch (base) {
                case "full" -> new Mode(false, false, ckpt);
                case "full-bf16" -> new Mode(false, true, ckpt);
                case "lora" -> new Mode(true, false, ckpt);
                case "lora-bf16" -> new Mode(true, true, ckpt);
                default -> throw new IllegalArgumentException("unknown mode '" + s
                        + "' (full, full-bf16, lora, lora-bf16, each optionally +ckpt)");
            };
        }

        public String key() {
            return (lora ? "lora" : "full") + (bf16 ? "-bf16" : "") + (checkpointing ? "+ckpt" : "");
        }

        /** The same mode for the PyTorch reference (scripts/bench/torch_real_shapes.py). */
        public List<String> referenceArgs() {
            List<String> a = new ArrayList<>();
            if (lora) {
                a.addAll(List.of("--lora-r", String.valueOf(LORA_R), "--lora-alpha", String.valueOf(LORA_ALPHA)));
            }
            if (bf16) {
                a.add("--bf16");
            }
            if (checkpointing) {
                a.add("--checkpointing");
            }
            return a;
        }
    }

    /**
     * A measured case: seconds per step (median) or per generation (fastest), tokens/s, FLOPs of one step; for a
     * generation also the fastest run's seconds to its first token (the prompt's forward pass and the first pick)
     * and its decoding rate after it ({@link #decodeTokensPerSecond}), NaN for a step.
     */
    public record Result(double seconds, double tokensPerSecond, double flops, double peakRssMb, double firstTokenSeconds,
                         double decodeTokensPerSecond) {
        Result(double seconds, double tokensPerSecond, double flops, double peakRssMb) {
            this(seconds, tokensPerSecond, flops, peakRssMb, Double.NaN, Double.NaN);
        }
    }

    /**
     * Tokens/s of decoding alone: the {@code newTokens - 1} tokens of each of {@code batch} rows that follow the
     * first, batch (newTokens - 1) / (seconds - firstTokenSeconds), where {@code seconds} is a generation of
     * {@code newTokens} tokens and {@code firstTokenSeconds} the same run's time to its first token. NaN without a
     * time to divide by: one token, or the first token timed at the end.
     */
    public static double decodeTokensPerSecond(int batch, int newTokens, double seconds, double firstTokenSeconds) {
        double rest = seconds - firstTokenSeconds;
        return newTokens < 2 || !(rest > 0) ? Double.NaN : batch * (newTokens - 1.0) / rest;
    }

    /** Writes random weights of {@code shape} (float32) with its config.json into {@code dir}. */
    public static void writeModel(Shape shape, Path dir) throws IOException {
        Files.createDirectories(dir);
        // the scope frees the random draws' temporaries too (2 GB at Qwen2.5-0.5B), which the garbage collector of
        // a small Java heap would leave beside the cases that follow
        try (PointerScope scope = new PointerScope()) {
            ModelFiles.save(ModelInit.random(shape.config(), 7, null), dir);
        }
    }

    /**
     * Median of {@code repeats} DPO steps after {@link TrainBench#WARMUP_STEPS} untimed ones, in this process, on the
     * model in {@code dir}.
     */
    public static Result dpo(Path dir, Mode mode, int repeats) {
        CausalLM model = ModelFiles.load(dir, null, null);
        if (mode.lora()) {
            torch.manual_seed(0);
            model.addLora(new LoraConfig(LORA_R, LORA_ALPHA, 0, List.of(LoraConfig.ALL_LINEAR), false));
            if (mode.bf16()) {
                model.holdFrozenLinearsInBf16();             // as the trainers under --bf16 (LoraOptions)
            }
        }
        List<PreferencePair> pairs = pairs(model.config().vocabSize());
        double[] chosen = new double[PAIRS];
        double[] rejected = new double[PAIRS];
        Arrays.fill(chosen, -400);
        Arrays.fill(rejected, -410);
        DpoTask task = new DpoTask(model, 0, DpoConfig.defaults(), ReferenceLogps.of(pairs, chosen, rejected));
        double sec;
        try (Compute c = Compute.use(mode.bf16(), mode.checkpointing())) {
            sec = TrainBench.medianStepSeconds(model, task, pairs, repeats);
        }
        double flops = dpoFlops(model, mode);
        return new Result(sec, 2.0 * PAIRS * SEQ / sec, flops, dev.keel.runtime.Proc.peakRssMb());
    }

    /**
     * Model FLOPs of one DPO step (recomputation not counted): per weight and token, 2 forward and 2 for the input
     * gradients, and 2 for the weight gradients of what is trained (every matrix, or the adapters: 6 per adapter
     * weight and token for their own forward and backward); the output head only at the columns the step computes
     * it (the completions, {@code CompletionForward}); plus attention, 12·L·T·d per token.
     */
    static double dpoFlops(CausalLM model, Mode mode) {
        ModelConfig c = model.config();
        double body = bodyWeights(c);
        double head = (double) c.vocabSize() * c.hiddenSize();
        double tokens = 2.0 * PAIRS * SEQ;
        double headTokens = 2.0 * PAIRS * (SEQ - SEQ / 2 + 1);
        double weightGrads = mode.lora() ? 6.0 * adapterParams(model) * tokens
                : 2.0 * body * tokens + 2.0 * head * headTokens;
        return 4.0 * body * tokens + 4.0 * head * headTokens + weightGrads
                + 12.0 * c.numLayers() * SEQ * c.hiddenSize() * tokens;
    }

    private static double adapterParams(CausalLM model) {
        double n = 0;
        for (Tensor t : model.adapters().tensors().values()) {
            n += t.numel();
        }
        return n;
    }

    /**
     * Greedy decoding of {@code newTokens} tokens at batch {@code batch}, float32 or bf16 weights; the fastest run,
     * with its time to the first token.
     */
    public static Result generate(Path dir, boolean bf16Weights, int batch, int newTokens, int repeats) {
        CausalLM model = ModelFiles.load(dir, bf16Weights ? DType.BF16 : null, null);
        GenerateBench.Result r = GenerateBench.run(model, batch, newTokens, repeats, 1);
        return new Result(r.seconds(), r.tokensPerSecond(), 0, dev.keel.runtime.Proc.peakRssMb(), r.firstTokenSeconds(),
                decodeTokensPerSecond(batch, newTokens, r.seconds(), r.firstTokenSeconds()));
    }

    /**
     * Bytes of weights one decoding step reads at batch 1: every matrix once (the embedding only as the output
     * head, when tied; a lookup reads one row), in float32 or bfloat16.
     */
    public static double weightBytesPerToken(ModelConfig c, boolean bf16) {
        return (bodyWeights(c) + (double) c.vocabSize() * c.hiddenSize()) * (bf16 ? 2 : 4);
    }

    /** Weights of the linear layers between the embeddings and the output head (LoRA's all-linear). */
    private static double bodyWeights(ModelConfig c) {
        double n = 0;
        for (long[] s : dev.keel.model.LoraAdapters.linearLayers(c, dev.keel.model.Head.LM, false).values()) {
            n += (double) s[0] * s[1];
        }
        return n;
    }


    /** Read bandwidth in bytes/s: the fastest of 10 sums over 1 GiB of float32 (far larger than any cache). */
    public static double readBandwidth() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor a = torch.ones(256L * 1024 * 1024);
            return a.numel() * 4.0 / TrainBench.fastestSeconds(2, 10, () -> Tensors.item(a.sum()));
        }
    }

    /** FLOP/s of a 1024 x 1024 x 4096 matmul in {@code dtype}, the fastest of 10. */
    public static double matmulPeak(ScalarType dtype) {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor a = torch.randn(1024, 1024).to(dtype);
            Tensor b = torch.randn(1024, 4096).to(dtype);
            return 2.0 * 1024 * 1024 * 4096 / TrainBench.fastestSeconds(3, 10, () -> torch.mm(a, b).close());
        }
    }

    private static List<PreferencePair> pairs(int vocab) {
        Random r = new Random(2);
        List<PreferencePair> out = new ArrayList<>();
        int half = SEQ / 2;
        for (int i = 0; i < PAIRS; i++) {
            out.add(new PreferencePair(i, ids(r, half, vocab), ids(r, SEQ - half, vocab), ids(r, SEQ - half, vocab), 0));
        }
        return out;
    }

    private static long[] ids(Random r, int n, int vocab) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(vocab);
        }
        return a;
    }
}
