package dev.keel.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The LoRA adapters of one model (docs/ALGORITHMS.md §8): for each adapted linear layer, by its module name
 * (transformers' name of the layer, e.g. {@code model.layers.0.self_attn.q_proj}), A (r, in) and B (out, r).
 * They can be switched off for a while ({@link #off()}), which gives back the base model exactly: DPO's and the RL
 * trainers' reference, with one copy of the base weights in memory.
 */
public final class LoraAdapters {
    /** One layer's pair, as PEFT's {@code lora_A.weight} (r, in) and {@code lora_B.weight} (out, r). */
    public record Pair(Tensor a, Tensor b) {}

    /** The matrices that are not linear layers LoRA adapts: embeddings and output heads. */
    static final java.util.Set<String> NOT_LINEAR = java.util.Set.of("embed_tokens", "wte", "wpe", "lm_head", "score");

    private final LoraConfig config;
    private final boolean fanInFanOut;
    private final Map<String, Pair> byModule;
    private boolean enabled = true;

    /**
     * @param fanInFanOut whether the base layers store their weights as (in, out) (GPT-2's Conv1D)
     * @param byModule    the pairs by module name, in the model's order
     */
    public LoraAdapters(LoraConfig config, boolean fanInFanOut, Map<String, Pair> byModule) {
        this.config = config;
        this.fanInFanOut = fanInFanOut;
        this.byModule = Collections.unmodifiableMap(new LinkedHashMap<>(byModule));
    }

    /**
     * Fresh adapters for {@code shapes} (module name to its weight's (out, in) shape): A drawn as nn.Linear's
     * weights are ({@link Lora#initBound}), B zero, so the model starts exactly as the base. Draws from libtorch's
     * generator: seed it first for a repeatable run.
     */
    public static LoraAdapters init(LoraConfig config, boolean fanInFanOut, Map<String, long[]> shapes, ScalarType type,
                                    org.bytedeco.pytorch.Device device) {
        Map<String, Pair> m = new LinkedHashMap<>();
        shapes.forEach((name, outIn) -> {
            double bound = Lora.initBound(outIn[1]);
            Tensor a = torch.rand(config.r(), outIn[1]).mul(dev.keel.tensor.Tensors.s(2 * bound))
                    .sub(dev.keel.tensor.Tensors.s(bound)).to(device, type);
            Tensor b = torch.zeros(outIn[0], config.r()).to(device, type);
            m.put(name, new Pair(a, b));
        });
        return new LoraAdapters(config, fanInFanOut, m);
    }

    /**
     * The linear layers LoRA may adapt, by module name, with their (out, in) shape: every matrix but the embeddings
     * and the output head (PEFT's {@code all-linear}).
     */
    public static Map<String, long[]> linearLayers(CausalLM model) {
        return linearLayers(model.config(), model.head(), model.fanInFanOut());
    }

    /** {@link #linearLayers(CausalLM)} of an architecture, without weights. */
    public static Map<String, long[]> linearLayers(dev.keel.model.io.ModelConfig config, Head head, boolean fanInFanOut) {
        Map<String, long[]> m = new LinkedHashMap<>();
        CausalLM.expectedShapes(config, head).forEach((name, shape) -> {
            if (shape.length != 2 || !name.endsWith(".weight")) {
                return;
            }
            String module = name.substring(0, name.length() - ".weight".length());
            String leaf = module.substring(module.lastIndexOf('.') + 1);
            if (!NOT_LINEAR.contains(leaf)) {
                m.put(module, fanInFanOut ? new long[] {shape[1], shape[0]} : shape);
            }
        });
        return m;
    }

    /** The settings the adapters were made or read with. */
    public LoraConfig config() {
        return config;
    }

    /** Whether the adapted layers store their weights as (in, out) (PEFT's {@code fan_in_fan_out}). */
    public boolean fanInFanOut() {
        return fanInFanOut;
    }

    /** The pairs by module name, in the model's order. */
    public Map<String, Pair> pairs() {
        return byModule;
    }

    /** Every adapter tensor by PEFT's name without the {@code base_model.model.} prefix: {@code <module>.lora_A.weight}. */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        byModule.forEach((name, p) -> {
            out.put(name + ".lora_A.weight", p.a());
            out.put(name + ".lora_B.weight", p.b());
        });
        return out;
    }

    /**
     * The weights of a model with each adapted layer's update merged in, W + scaling · B A (transposed for
     * fan-in-fan-out layers; {@link Lora#delta}), as PEFT's {@code merge_and_unload}: a plain model that computes
     * what base + adapters compute. {@code weights} are not changed; the unadapted ones are shared, not copied.
     */
    public Map<String, Tensor> merge(Map<String, Tensor> weights) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            weights.forEach((name, w) -> {
                Pair p = name.endsWith(".weight") ? byModule.get(name.substring(0, name.length() - 7)) : null;
                Tensor d = p == null ? null : Lora.delta(p.a().to(ScalarType.Float), p.b().to(ScalarType.Float),
                        config.scaling(), fanInFanOut);
                out.put(name, d == null ? w : w.to(ScalarType.Float).add(d).to(w.scalar_type()));
            });
        }
        return out;
    }

    /**
     * {@code base} (the output of layer {@code module} for input {@code x}) plus the layer's update, when it has an
     * adapter and adapters are on. Dropout applies while gradients are recorded (training), as in train mode.
     */
    Tensor apply(String module, Tensor x, Tensor base) {
        Pair p = enabled ? byModule.get(module) : null;
        if (p == null) {
            return base;
        }
        ScalarType t = x.scalar_type();
        return Lora.forward(base, x, p.a().to(t), p.b().to(t), config.scaling(), config.dropout(), GradMode.is_enabled());
    }

    /** Whether any adapter is on (decoding must then not use stacked copies of the base weights alone). */
    boolean active() {
        return enabled && !byModule.isEmpty();
    }

    /** Switches the adapters off until the returned handle is closed: the base model, as PEFT's {@code disable_adapter()}. */
    public Off off() {
        boolean was = enabled;
        enabled = false;
        return () -> enabled = was;
    }

    /** A span with the adapters switched off. */
    public interface Off extends AutoCloseable {
        @Override
        void close();
    }
}
