package dev.keel.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

import dev.keel.model.Compute;
import dev.keel.model.io.DType;

/**
 * {@code --bf16} and {@code --gradient-checkpointing}, on every trainer: how its forwards compute. The command
 * runs inside the {@link Compute} scope they set ({@link #scope}, entered by {@link Main} around the command).
 */
final class ComputeOptions {
    @Option(names = "--bf16", description = "Mixed precision as torch.autocast(\"cpu\", torch.bfloat16): "
            + "matrix products in bfloat16; float32 weights, optimizer state, attention, norms, "
            + "log-softmax and losses (needs --dtype float32); with --lora-r the frozen base's linear layers are held "
            + "in bfloat16 (the same products, less memory). Faster on CPUs with AVX-512 BF16 or AMX.")
    boolean bf16;

    @Option(names = "--gradient-checkpointing", description = "Keep only each block's input in the forward "
            + "and recompute the block in the backward: the same gradients with less activation memory, "
            + "for about one more forward of time.")
    boolean gradientCheckpointing;

    /**
     * A problem with {@code spec}'s compute options, or null: {@code --bf16} keeps float32 master weights, so it
     * does not combine with another {@code --dtype}.
     */
    static String problem(CommandSpec spec) {
        ComputeOptions o = find(spec);
        OptionSpec dtype = spec.findOption("--dtype");
        if (o != null && o.bf16 && dtype != null && dtype.getValue() != null
                && DType.parseFloat(dtype.getValue().toString()) != DType.F32) {
            return "--bf16 autocasts float32 weights to bfloat16 for the products; use it with --dtype float32, not "
                    + dtype.getValue() + " (--dtype bfloat16 alone trains pure bfloat16 weights)";
        }
        return null;
    }

    /** The compute scope {@code spec}'s options ask for (both off for a command without them). */
    static Compute scope(CommandSpec spec) {
        ComputeOptions o = find(spec);
        return o == null ? Compute.use(false, false) : Compute.use(o.bf16, o.gradientCheckpointing);
    }

    /** The command's ComputeOptions, mixed in directly or through another mixin; null when it has none. */
    private static ComputeOptions find(CommandSpec spec) {
        if (spec.userObject() instanceof ComputeOptions o) {
            return o;
        }
        for (CommandSpec m : spec.mixins().values()) {
            ComputeOptions o = find(m);
            if (o != null) {
                return o;
            }
        }
        return null;
    }
}
