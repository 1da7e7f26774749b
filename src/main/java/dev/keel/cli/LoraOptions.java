package dev.keel.cli;

import java.util.List;

import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Option;

import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;

/**
 * LoRA's options (PEFT's {@code LoraConfig} names and defaults), shared by the trainers: with {@code --lora-r}
 * the base weights stay frozen and only adapters (and a scalar head) train; without it nothing changes.
 */
final class LoraOptions {
    @Option(names = "--lora-r", description = "Train LoRA adapters of this rank instead of every weight (off when not "
            + "given): the base stays frozen, the reference is the base with the adapters off, and --out gets "
            + "adapter_config.json + adapter_model.safetensors in PEFT's layout (merge with 'keel merge').")
    Integer r;

    @Option(names = "--lora-alpha", description = "LoRA's alpha: updates are scaled by alpha / r. Default: 8 (PEFT's).")
    Double alpha;

    @Option(names = "--lora-dropout", description = "Dropout on the adapters' input while training. Default: 0.")
    Double dropout;

    @Option(names = "--lora-target-modules", split = ",", description = "Layers to adapt, by PEFT's names: "
            + "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (Llama family), c_attn,c_proj,c_fc (GPT-2), "
            + "or all-linear (every linear layer but the output head). Default: q_proj,v_proj (GPT-2: c_attn), as PEFT.")
    List<String> targets;

    @Option(names = "--use-rslora", description = "Scale updates by alpha / sqrt(r) (rank-stabilised LoRA).")
    boolean rslora;

    /** The settings for a base of {@code modelType}, or null without --lora-r (other LoRA options are then an error). */
    LoraConfig config(String modelType) {
        if (r == null) {
            if (alpha != null || dropout != null || targets != null || rslora) {
                throw new IllegalArgumentException("--lora-alpha, --lora-dropout, --lora-target-modules and "
                        + "--use-rslora need --lora-r");
            }
            return null;
        }
        return new LoraConfig(r, alpha != null ? alpha : 8, dropout != null ? dropout : 0,
                targets != null ? targets : LoraConfig.defaultTargets(modelType), rslora);
    }

    /**
     * Adds fresh adapters to {@code model} when --lora-r is given, drawn after seeding libtorch's generator with
     * {@code seed}; returns the settings, or null when LoRA is off.
     */
    LoraConfig apply(CausalLM model, long seed) {
        LoraConfig c = config(model.config().modelType());
        if (c != null) {
            torch.manual_seed(seed);
            add(model, c);
        }
        return c;
    }

    /**
     * Adds fresh adapters of {@code c} to {@code model}; under {@code --bf16} its frozen linear weights are then held
     * in bfloat16 ({@link CausalLM#holdFrozenLinearsInBf16}: the same products, without float32 copies and casts).
     */
    static void add(CausalLM model, LoraConfig c) {
        model.addLora(c);
        if (dev.keel.model.Compute.bf16()) {
            model.holdFrozenLinearsInBf16();
        }
    }
}
