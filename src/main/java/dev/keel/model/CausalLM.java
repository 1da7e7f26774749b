package dev.keel.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.tensor.Tensors;

/**
 * A decoder-only causal language model: token ids in, hidden states and next-token logits out. Weights are
 * held by name, with the names transformers' {@code ...ForCausalLM} classes use (so saving needs no
 * mapping); subclasses wire them into blocks.
 *
 * <p>Weights must outlive every forward pass: create the model outside any {@code PointerScope}.
 */
public abstract class CausalLM {
    protected final ModelConfig config;
    protected final Map<String, Tensor> weights;
    /** The tensors behind {@link #weights}: a frozen one may be replaced by a copy in another dtype. */
    private final Map<String, Tensor> held;
    protected final DType dtype;
    protected final Head head;
    private LoraAdapters adapters;
    /**
     * Largest size of the weights for which a generation makes decoding copies (stacked, packed) of them, about one
     * more copy of the weights while it runs: an eighth of the machine's memory (a container's limit where it has
     * one), at least 1 GiB; 3 GiB on a 24 GiB machine, where packing made batch-16 greedy decoding at the
     * Qwen2.5-0.5B shape (1.98 GB of float32 weights) 2.1-2.3x faster for 1.9 GB more peak memory
     * (docs/PERFORMANCE.md, item 25). A property of the machine, not of the moment's free memory, so the same
     * command decodes on the same products every time.
     */
    protected static final long DECODING_COPIES_BYTES = decodingCopiesBudget(machineMemoryBytes());
    /** Whether the weights fit {@link #DECODING_COPIES_BYTES}. */
    protected final boolean decodingCopiesFit;

    protected CausalLM(ModelConfig config, Map<String, Tensor> weights) {
        this.config = config;
        this.head = weights.containsKey(SCORE) ? Head.SCORE : Head.LM;
        Map<String, long[]> expected = expectedShapes(config, head);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = weights.get(e.getKey());
            if (t == null) {
                throw new KeelException("missing weight '" + e.getKey() + "'");
            }
            if (!java.util.Arrays.equals(Tensors.shape(t), e.getValue())) {
                throw new KeelException("weight '" + e.getKey() + "' has shape "
                        + java.util.Arrays.toString(Tensors.shape(t)) + ", expected "
                        + java.util.Arrays.toString(e.getValue()));
            }
        }
        this.held = new LinkedHashMap<>(weights);
        this.weights = Collections.unmodifiableMap(held);
        this.dtype = DType.fromScalarType(weights.values().iterator().next().scalar_type());
        long bytes = 0;
        for (Tensor t : weights.values()) {
            bytes += t.numel() * t.element_size();
        }
        this.decodingCopiesFit = bytes <= DECODING_COPIES_BYTES;
    }

    /** {@link #DECODING_COPIES_BYTES} on a machine of {@code memory} bytes (0 when unknown). */
    static long decodingCopiesBudget(long memory) {
        return Math.max(1024L << 20, memory / 8);
    }

    private static long machineMemoryBytes() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean b ? b.getTotalMemorySize() : 0;
    }

    /** Builds the model of {@code config.family()} over {@code weights} (names as in {@link #expectedShapes}). */
    public static CausalLM create(ModelConfig config, Map<String, Tensor> weights) {
        switch (config.family()) {
            case GPT2:
                return new Gpt2Model(config, weights);
            case LLAMA:
                return new LlamaModel(config, weights);
            default:
                throw new IllegalStateException("unhandled family " + config.family());
        }
    }

    /**
     * Frees the weights (and their gradients) now rather than when the garbage collector finds them; the model
     * must not be used afterwards. For callers that load one large model after another in one process.
     */
    public void release() {
        for (Tensor t : weights.values()) {
            t.close();
        }
    }

    /** A model of the same architecture over copies of these weights (detached), free to change on its own. */
    public CausalLM copy() {
        if (adapters != null) {
            throw new IllegalStateException("a model with LoRA adapters is not copied: switch them off (adaptersOff) "
                    + "for the base model");
        }
        Map<String, Tensor> w = new LinkedHashMap<>();
        weights.forEach((k, v) -> w.put(k, v.detach().clone()));
        return create(config, w);
    }

    /** The scalar head's weight (1, D), as transformers' {@code ...ForSequenceClassification} names it. */
    public static final String SCORE = "score.weight";

    /** Every weight of this architecture with a language-model head, by transformers' name, with its shape. */
    public static Map<String, long[]> expectedShapes(ModelConfig config) {
        return expectedShapes(config, Head.LM);
    }

    /** Every weight of this architecture with {@code head}, by transformers' name, with its shape, in a stable order. */
    public static Map<String, long[]> expectedShapes(ModelConfig config, Head head) {
        Map<String, long[]> m;
        switch (config.family()) {
            case GPT2:
                m = Gpt2Model.shapes(config);
                break;
            case LLAMA:
                m = LlamaModel.shapes(config);
                break;
            default:
                throw new IllegalStateException("unhandled family " + config.family());
        }
        if (head == Head.SCORE) {
            m.remove("lm_head.weight");
            m.put(SCORE, new long[] {1, config.hiddenSize()});
        }
        return m;
    }

    /**
     * Final hidden states (B, T, D) for {@code inputIds} (B, T). Every pass is counted in {@link Usage} here,
     * once for every architecture. The pass runs under bf16 autocast when {@link Compute#bf16()} is on, and
     * checkpoints its blocks when {@link Compute#checkpointing()} is on inside a {@link BackwardPass}.
     *
     * @param positionIds (B, T) int64 positions of the new tokens
     * @param mask        (B, 1, T, S) bool, true where a query may attend to a key (S = cached + T); null when
     *                    nothing is padded and no sliding window applies, with T = 1 or no cache: then
     *                    attention is plain causal
     * @param cache       cached keys and values, appended to; null for none
     */
    public final Tensor hidden(Tensor inputIds, Tensor positionIds, Tensor mask, KvCache cache) {
        Usage.forward(inputIds.size(0), inputIds.numel(), org.bytedeco.pytorch.GradMode.is_enabled());
        try (Autocast a = Autocast.bf16If(Compute.bf16())) {
            return decode(inputIds, positionIds, mask, cache);
        }
    }

    /** The architecture's decoder: {@link #hidden} without the counting. */
    protected abstract Tensor decode(Tensor inputIds, Tensor positionIds, Tensor mask, KvCache cache);

    /**
     * Final hidden states at columns {@code at} of each row only: {@link #hidden} (without a cache) gathered at those
     * columns, to float rounding. The Llama family runs its last block's queries, attention output and MLP at those
     * columns alone (its keys and values at every column), so a reward model read at one token per row, or
     * log-probs read at a response's columns, skip that work for the other columns.
     *
     * @param at (B, K) int64 columns of each row to return, each in [0, T)
     * @return (B, K, D)
     */
    public final Tensor hiddenAt(Tensor inputIds, Tensor positionIds, Tensor mask, Tensor at) {
        if (at.dim() != 2 || at.size(0) != inputIds.size(0)) {
            throw new IllegalArgumentException("hiddenAt: columns (B, K) for " + inputIds.size(0) + " rows, got "
                    + java.util.Arrays.toString(at.sizes().vec().get()));
        }
        Usage.forward(inputIds.size(0), inputIds.numel(), org.bytedeco.pytorch.GradMode.is_enabled());
        try (Autocast a = Autocast.bf16If(Compute.bf16())) {
            return decodeAt(inputIds, positionIds, mask, at);
        }
    }

    /** {@link #hiddenAt} without the counting: by default every column's hidden state, then the wanted ones. */
    protected Tensor decodeAt(Tensor inputIds, Tensor positionIds, Tensor mask, Tensor at) {
        return columns(decode(inputIds, positionIds, mask, null), at);
    }

    /** x (B, T, D) at columns {@code at} (B, K) of each row: (B, K, D). */
    static Tensor columns(Tensor x, Tensor at) {
        return x.gather(1, at.unsqueeze(-1).expand(at.size(0), at.size(1), x.size(2)));
    }

    /**
     * The head's outputs from final hidden states (..., D), as transformers names them {@code logits}:
     * next-token logits (..., vocab) for a language-model head, the scalar (..., 1) for a scalar head. Under
     * {@link Compute#bf16()} the product runs in bfloat16 and its result is cast up to float32, so log-softmax
     * and every loss see float32 logits.
     */
    public Tensor logits(Tensor hidden) {
        if (Compute.bf16()) {
            try (Autocast a = Autocast.bf16If(true)) {
                return headOutputs(hidden).to(ScalarType.Float);         // the product in bf16, the losses in f32
            }
        }
        return headOutputs(hidden);
    }

    /**
     * {@link #logits(Tensor)} inside a generation with {@code cache}: the same outputs, with the head's weight
     * packed for decoding ({@link #packedLinear}).
     */
    public Tensor logits(Tensor hidden, KvCache cache) {
        Tensor y = head == Head.LM ? packedLinear(hidden, cache, "lm_head", this::lmHead, null) : null;
        if (y == null && head == Head.LM && cache != null) {
            y = decodingHead(hidden, cache);
        }
        return y != null ? y : logits(hidden);
    }

    /**
     * The language-model head's outputs for one row of a generation with {@code cache} computed by the
     * architecture's own decoding route (the Llama family's step on the JVM), or null for the plain product.
     */
    protected Tensor decodingHead(Tensor hidden, KvCache cache) {
        return null;
    }

    private Tensor headOutputs(Tensor hidden) {
        return head == Head.LM ? Ops.linear(hidden, tiedHeadForThisPass(lmHead()), null)
                : Ops.linear(hidden, w(SCORE), null);
    }

    /**
     * The output head's weight for a forward in a checkpointing {@link BackwardPass}: when it is the trained input
     * embedding (tied), a leaf of its own whose gradient joins the lookup's in the pass's last backward call, so the
     * embedding takes one add per pass as without checkpointing (what lets a batch's halves run side by side,
     * {@link BackwardPass#splittable}); else {@code w} itself.
     */
    private Tensor tiedHeadForThisPass(Tensor w) {
        BackwardPass pass = BackwardPass.checkpointing();
        if (pass == null || !config.tieWordEmbeddings() || !w.requires_grad()) {
            return w;
        }
        Tensor own = w.detach().requires_grad_(true);
        pass.deferToEnd(w.view(w.sizes()), own::grad);   // a view carries the gradient back into w
        return own;
    }

    /**
     * x W^T + b for a product of decoding with {@code cache}, through a copy of W packed once for this generation
     * ({@link Prepacked}); null when {@link #packsForDecoding} does not allow it or W's shape failed its check, and
     * the caller then runs its plain product.
     *
     * @param key    names the packed copy in the cache
     * @param weight W (out, in), asked for once, to be packed (may be a temporary: e.g. GPT-2's Conv1D weight
     *               transposed, Llama's projections stacked)
     */
    protected final Tensor packedLinear(Tensor x, KvCache cache, String key, java.util.function.Supplier<Tensor> weight,
            Tensor bias) {
        if (!packsForDecoding(cache, x)) {
            return null;
        }
        long batch = x.size(0);
        Tensor packed = cache.derived(key + "#packed", () -> Prepacked.pack(weight.get(), batch));
        if (packed == null) {
            return null;
        }
        cache.singleThreadedBlas();
        return Prepacked.linear(x, packed, bias);
    }

    /**
     * Whether products with input {@code x} (B, ..., in) in a generation with {@code cache} run on packed weights:
     * {@link #packsWeightsForDecoding()}, no gradients, and a batch of more than one sequence (one row goes through
     * {@code mv}, faster at these sizes, and a batch of one would pack its weights for its prompt alone).
     */
    protected final boolean packsForDecoding(KvCache cache, Tensor x) {
        return cache != null && x.size(0) > 1 && packsWeightsForDecoding() && !org.bytedeco.pytorch.GradMode.is_enabled();
    }

    /**
     * Whether a generation of several sequences would multiply by weights packed for it ({@link Prepacked}): float32
     * or bfloat16 weights on the CPU within {@link #DECODING_COPIES_BYTES}, no {@code --bf16}, no LoRA update being
     * added, and packing on ({@code KEEL_PREPACK}).
     */
    public boolean packsWeightsForDecoding() {
        return Prepacked.enabled() && decodingCopiesFit && (dtype == DType.F32 || dtype == DType.BF16) && !Compute.bf16()
                && !adaptersActive() && device().is_cpu();
    }

    /** Hidden size from which a model's greedy batches decode in one batch rather than two lanes. */
    static final long LANES_BELOW_HIDDEN = 768;

    /**
     * Whether the greedy rows of a batch decode in two lanes, each half on a core of its own
     * ({@code BatchGenerator}): with packed weights ({@link #packsWeightsForDecoding()}; unpacked, each lane's every
     * product packs the weights again for OpenBLAS), and only below a hidden size of {@link #LANES_BELOW_HIDDEN}.
     * Each lane reads every weight at every step; where the products are long, reading them twice costs more than
     * the lanes save on the step's short ops. Batch-16 greedy decoding, tokens/s in one batch against two lanes
     * (docs/PERFORMANCE.md, item 30): bfloat16 at hidden 576 (SmolLM2-135M) 282 against 347, 768 248 against 262,
     * 896 (Qwen2.5-0.5B) 174 against 142; float32 at 576 165 against 158, 768 129 against 113, 896 76 against 60
     * (on the AMD EPYC of item 17, float32 at 576 gained 1.17x from lanes).
     */
    public boolean decodesGreedyInLanes() {
        return packsWeightsForDecoding() && config.hiddenSize() < LANES_BELOW_HIDDEN;
    }

    /**
     * What multiplies a row by the weights in batch-1 decoding on this JVM: "C (avx512f)" (or avx2, or plain C) where
     * the build compiled {@code src/main/c/keel_rows.c} and it loaded, with ", Llama step in C" when the Llama
     * family's whole step runs there ({@link NativeStep}); "vector API" where only the JDK's vector module is there,
     * else "libtorch" (for {@code keel --version} and the bench's header).
     */
    public static String rowKernels() {
        if (!Bf16Mv.available()) {
            return "libtorch";
        }
        if (!NativeRows.enabled()) {
            return "vector API";
        }
        return "C (" + NativeRows.instructionSet() + ")" + (NativeStep.enabled() && LlamaJvmStep.enabled() ? ", Llama step in C" : "");
    }

    /** Scalar head outputs (...) from final hidden states (..., D). */
    public Tensor scores(Tensor hidden) {
        if (head != Head.SCORE) {
            throw new IllegalStateException("this model has a language-model head, not a scalar head");
        }
        return logits(hidden).squeeze(-1);
    }

    /**
     * The scalar head read at the last real token of each row (how transformers' sequence classifiers and
     * reward models score a sequence), for a padded batch without cache.
     *
     * @param keep (B, T) 1 for real tokens; padding may be on either side
     * @return (B)
     */
    public Tensor sequenceScores(Tensor inputIds, Tensor keep) {
        Tensor pos = AttentionMask.positionIds(keep);
        Tensor mask = AttentionMask.causal(keep, inputIds.size(1), config.slidingWindow());
        return scores(hiddenAt(inputIds, pos, mask, lastRealColumn(keep).view(-1, 1)).squeeze(1));
    }

    /** hidden (B, T, D) at the last position where keep is 1, per row: (B, D). */
    public static Tensor lastReal(Tensor hidden, Tensor keep) {
        return columns(hidden, lastRealColumn(keep).view(-1, 1)).squeeze(1);
    }

    /** The last column where keep (B, T) is 1, per row: (B) int64. */
    private static Tensor lastRealColumn(Tensor keep) {
        return org.bytedeco.pytorch.global.torch.arange(dev.keel.tensor.Tensors.s(keep.size(1)),
                dev.keel.tensor.Tensors.options(org.bytedeco.pytorch.global.torch.ScalarType.Long, keep.device()))
                .mul(keep.to(org.bytedeco.pytorch.global.torch.ScalarType.Long))
                .argmax(new org.bytedeco.pytorch.LongOptional(1), false);
    }

    public Head head() {
        return head;
    }

    /** The output embedding (vocab, D): the input embedding when tied. */
    protected abstract Tensor lmHead();

    /**
     * {@link #logits} (B, T, vocab) — or (B, T, 1) for a scalar head — of a padded batch without a cache: positions and the causal mask come from
     * {@code keep} (B, T), 1 for real tokens and 0 for padding on either side.
     */
    public Tensor forward(Tensor inputIds, Tensor keep) {
        return forward(inputIds, keep, 0);
    }

    /**
     * {@link #forward(Tensor, Tensor)} with the head applied only to columns {@code fromColumn} .. T - 1: logits
     * (B, T - fromColumn, vocab). Every column still goes through the blocks; a loss that reads only the later
     * columns skips the head's work (and its gradient) on the others.
     */
    public Tensor forward(Tensor inputIds, Tensor keep, long fromColumn) {
        Tensor pos = AttentionMask.positionIds(keep);
        Tensor mask = AttentionMask.causal(keep, inputIds.size(1), config.slidingWindow());
        Tensor h = hidden(inputIds, pos, mask, null);
        return logits(fromColumn == 0 ? h : h.narrow(1, fromColumn, h.size(1) - fromColumn));
    }

    public ModelConfig config() {
        return config;
    }

    /** The weights by name, in a stable order (read-only map; the tensors are the live parameters). */
    public Map<String, Tensor> weights() {
        return weights;
    }

    /** The parameters to train, in {@link #trainable()} order. */
    public List<Tensor> parameters() {
        return new ArrayList<>(trainable().values());
    }

    /**
     * The tensors to train by name: every weight; with LoRA adapters, only the adapters (PEFT's names without the
     * {@code base_model.model.} prefix) and a scalar head (PEFT's {@code modules_to_save} for sequence
     * classification), the base weights staying frozen.
     */
    public Map<String, Tensor> trainable() {
        if (adapters == null) {
            return weights;
        }
        Map<String, Tensor> m = new LinkedHashMap<>(adapters.tensors());
        if (head == Head.SCORE) {
            m.put(SCORE, w(SCORE));
        }
        return Collections.unmodifiableMap(m);
    }

    /**
     * Adds fresh LoRA adapters (A drawn, B zero: the outputs are unchanged) on the linear layers {@code cfg}
     * targets, and freezes the base weights. Draws from libtorch's generator: seed it first.
     */
    public LoraAdapters addLora(LoraConfig cfg) {
        Map<String, long[]> linear = LoraAdapters.linearLayers(this);
        Map<String, long[]> chosen = new LinkedHashMap<>();
        for (String m : cfg.select(new ArrayList<>(linear.keySet()), config.modelType())) {
            chosen.put(m, linear.get(m));
        }
        attach(LoraAdapters.init(cfg, fanInFanOut(), chosen, dtype.scalarType(), device()));
        return adapters;
    }

    /** Puts {@code a} on this model's linear layers (once) and freezes the base weights; a scalar head stays trainable. */
    public void attach(LoraAdapters a) {
        if (adapters != null) {
            throw new IllegalStateException("this model already has LoRA adapters");
        }
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            if (!(head == Head.SCORE && e.getKey().equals(SCORE))) {
                e.getValue().set_requires_grad(false);
            }
        }
        this.adapters = a;
    }

    /**
     * Holds the frozen weights of the linear layers in bfloat16 instead of float32, for a model with LoRA adapters
     * trained under {@code --bf16} ({@link Compute#bf16()}): the adapted and unadapted projections (PEFT's
     * {@code all-linear}) and an untied output head. Under autocast each of their products casts the weight to
     * bfloat16 anyway (libtorch caches no cast of a tensor without gradients, so every forward and every
     * recomputation casts again, and a forward with a graph keeps each cast for the backward); held in bfloat16
     * the products see the same rounded values, so outputs and gradients do not change, while the float32 copies
     * and the casts are gone. As PEFT users load a frozen base with {@code torch_dtype=torch.bfloat16}. The
     * embeddings, norms, biases and a scalar head stay float32, and so do the adapters.
     *
     * <p>The model must then run only under {@link Compute#bf16()} (the trainers run whole inside it); merging
     * and saving a full model start from the float32 files again ({@code keel merge}).
     *
     * @return bytes of weights freed
     */
    public long holdFrozenLinearsInBf16() {
        if (adapters == null) {
            throw new IllegalStateException("only a model with LoRA adapters has frozen base weights");
        }
        List<String> names = new ArrayList<>();
        LoraAdapters.linearLayers(this).keySet().forEach(m -> names.add(m + ".weight"));
        if (head == Head.LM && held.containsKey("lm_head.weight")) {
            names.add("lm_head.weight");
        }
        long freed = 0;
        try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            for (String name : names) {
                Tensor t = held.get(name);
                if (t.requires_grad() || t.scalar_type().intern() != ScalarType.Float) {
                    continue;
                }
                held.put(name, t.to(ScalarType.BFloat16));
                freed += t.numel() * 2;
                t.close();
            }
        }
        return freed;
    }

    /** The LoRA adapters, or null when the model has none. */
    public LoraAdapters adapters() {
        return adapters;
    }

    /** Switches the adapters off until the handle closes (nothing to do without adapters): the base model. */
    public LoraAdapters.Off adaptersOff() {
        return adapters == null ? () -> { } : adapters.off();
    }

    /** Whether the layers store weights as (in, out), GPT-2's Conv1D (PEFT's {@code fan_in_fan_out}). */
    public boolean fanInFanOut() {
        return config.family() == ModelConfig.Family.GPT2;
    }

    /** {@code y}, the output of linear layer {@code module} for input {@code x}, plus its LoRA update when it has one. */
    protected final Tensor adapted(String module, Tensor x, Tensor y) {
        return adapters == null ? y : adapters.apply(module, x, y);
    }

    /** Whether LoRA updates are being added (decoding then cannot use stacked copies of the base weights alone). */
    protected final boolean adaptersActive() {
        return adapters != null && adapters.active();
    }

    /** The dtype the weights (and so the computation) are in. */
    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return weights.values().iterator().next().device();
    }

    public long numParameters() {
        long n = 0;
        for (Tensor t : weights.values()) {
            n += t.numel();
        }
        return n;
    }

    protected Tensor w(String name) {
        Tensor t = weights.get(name);
        if (t == null) {
            throw new IllegalStateException("no weight " + name);
        }
        return t;
    }

    protected Tensor wOrNull(String name) {
        return weights.get(name);
    }

    protected ScalarType computeType() {
        return dtype.scalarType();
    }
}
