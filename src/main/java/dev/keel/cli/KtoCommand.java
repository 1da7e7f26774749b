package dev.keel.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.KtoExample;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.KtoConfig;
import dev.keel.train.KtoTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;
import dev.keel.train.TrainingLoop;

@Command(name = "kto", mixinStandardHelpOptions = true,
        description = {"Kahneman-Tversky Optimization (Ethayarajh et al. 2024) on unpaired records "
                + "{\"prompt\", \"completion\", \"label\": true|false} (TRL's unpaired preference format; prompt and "
                + "completion may be message lists, or prompt_ids and completion_ids).",
                "Desirable completions are pushed above, undesirable ones below, the reference point z0: the KL to "
                + "the reference estimated from each batch's prompts paired with other completions of the batch "
                + "(detached, clamped at 0), as TRL does. --batch-size must be at least 2.",
                "The frozen reference model (--ref-model, default --model) stays in memory.",
                "Default --lr: 1e-6 (TRL's KTOConfig).",
                "Metrics (TRL's names): rewards/chosen, rewards/rejected, rewards/margins, logps/chosen, "
                + "logps/rejected, logits/chosen, logits/rejected, kl (chosen = desirable, rejected = undesirable)."})
final class KtoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    PreferenceInputs in;

    @Option(names = "--beta", defaultValue = "0.1", description = "beta of the implicit reward. Default: ${DEFAULT-VALUE}.")
    double beta;

    @Option(names = "--desirable-weight", defaultValue = "1.0",
            description = "Weight of the desirable examples' losses. Default: ${DEFAULT-VALUE}.")
    double desirableWeight;

    @Option(names = "--undesirable-weight", defaultValue = "1.0",
            description = "Weight of the undesirable examples' losses. Default: ${DEFAULT-VALUE}.")
    double undesirableWeight;

    @Option(names = "--ref-model", description = "Reference model (default: --model).")
    Path refModel;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of a KTO run. */
    record Settings(PreferenceInputs.Settings inputs, Path refModel, KtoConfig kto, OptimConfig optim,
                    TrainConfig train, LoraConfig lora) {}

    @Override
    public Integer call() {
        KtoConfig kto = new KtoConfig(beta, desirableWeight, undesirableWeight);
        var optim = opts.optim(1e-6);
        var train = opts.train();
        if (opts.batchSize < 2) {
            throw new IllegalArgumentException("--batch-size must be at least 2 for kto: each batch pairs its prompts "
                    + "with the other examples' completions to estimate the KL, got " + opts.batchSize);
        }
        TrainOptions.required(in.model, "--model");
        RunOptions.singleProcess("kto");
        Main.startNatives();
        DType dt = DType.parseFloat(in.dtype);
        CausalLM policy = ModelFiles.load(in.model, dt, null);
        LoraConfig loraConfig = lora.apply(policy, opts.seed());
        try (Tokenizer tok = Tokenizer.load(in.model)) {
            PreferenceInputs.Split<KtoExample> split = in.readUnpaired(tok, policy.config().vocabSize(),
                    policy.config().maxPositions(), opts);
            RunFolder.prepare(opts.out(), opts.resume, "kto", new Settings(in.settings(opts), refModel, kto, optim, train, loraConfig));
            long desirable = split.train().stream().filter(KtoExample::desirable).count();
            kto.weightAdvice(desirable, split.train().size() - desirable)
                    .ifPresent(w -> spec.commandLine().getErr().println("keel kto: warning: " + w));
            // with LoRA and no --ref-model, the reference is the policy's own base (its adapters off): one copy
            CausalLM reference = loraConfig != null && refModel == null ? policy
                    : ModelFiles.load(refModel != null ? refModel : in.model, dt, null);
            long pad = tok.padId() != null ? tok.padId() : 0;
            spec.commandLine().getErr().printf("keel kto: %d training (%d desirable) and %d held-out examples "
                    + "(%d truncated), beta %s%n", split.train().size(), desirable, split.eval().size(), split.truncated(),
                    kto.beta());
            TrainingLoop<KtoExample> loop = new TrainingLoop<>(new CausalLMState(policy, in.model),
                    new KtoTask(policy, reference, pad, kto), optim, train, opts.out())
                    .onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(split.train(), split.eval(), opts.resume);
            spec.commandLine().getOut().printf("kto: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }
}
