package dev.keel.cli;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.PreferencePair;
import dev.keel.loss.CpoLossType;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.CpoConfig;
import dev.keel.train.CpoTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;
import dev.keel.dist.Distributed;
import dev.keel.train.TrainingLoop;

@Command(name = "cpo", mixinStandardHelpOptions = true,
        description = {"Contrastive Preference Optimization (Xu et al. 2024) and SimPO (Meng et al. 2024) on (prompt, "
                + "chosen, rejected) records: a reference-free preference term plus --cpo-alpha times the NLL of the "
                + "chosen completions.",
                "Loss types: sigmoid (CPO; with --label-smoothing, conservative), hinge, ipo (length-averaged), simpo "
                + "(length-averaged, margin --simpo-gamma). SimPO itself is --loss-type simpo --cpo-alpha 0.",
                "Default --lr: 1e-6 (TRL's CPOConfig).",
                "Metrics (TRL's names): rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, "
                + "logps/chosen, logps/rejected, logits/chosen, logits/rejected, nll_loss."})
final class CpoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    PreferenceInputs in;

    @Option(names = "--loss-type", defaultValue = "sigmoid", description = "sigmoid, hinge, ipo or simpo. Default: ${DEFAULT-VALUE}.")
    String lossType;

    @Option(names = "--beta", defaultValue = "0.1", description = "beta of the preference term. Default: ${DEFAULT-VALUE}.")
    double beta;

    @Option(names = "--label-smoothing", defaultValue = "0",
            description = "epsilon of the conservative loss (sigmoid, simpo). Default: ${DEFAULT-VALUE}.")
    double labelSmoothing;

    @Option(names = "--simpo-gamma", defaultValue = "0.5", description = "SimPO's target reward margin gamma. Default: ${DEFAULT-VALUE}.")
    double simpoGamma;

    @Option(names = "--cpo-alpha", defaultValue = "1.0",
            description = "Weight of the NLL (behaviour-cloning) term; 0 turns it off. Default: ${DEFAULT-VALUE}.")
    double cpoAlpha;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of a CPO run. */
    record Settings(PreferenceInputs.Settings inputs, CpoConfig cpo, OptimConfig optim, TrainConfig train,
                    LoraConfig lora) {}

    @Override
    public Integer call() {
        CpoConfig cpo = new CpoConfig(CpoLossType.parse(lossType), beta, labelSmoothing, simpoGamma, cpoAlpha);
        var optim = opts.optim(1e-6);
        var train = opts.train();
        TrainOptions.required(in.model, "--model");
        Main.startNatives();
        Distributed dist = opts.run.distributed();
        CausalLM policy = ModelFiles.load(in.model, DType.parseFloat(in.dtype), null);
        LoraConfig loraConfig = lora.apply(policy, opts.seed());
        try (Tokenizer tok = Tokenizer.load(in.model)) {
            PreferenceInputs.Split<PreferencePair> split = in.read(tok, policy.config().vocabSize(),
                    policy.config().maxPositions(), opts);
            RunFolder.prepare(dist, opts.out(), opts.resume, "cpo", new Settings(in.settings(opts), cpo, optim, train, loraConfig));
            long pad = tok.padId() != null ? tok.padId() : 0;
            spec.commandLine().getErr().printf("keel cpo: %d training and %d held-out pairs (%d truncated), loss %s, "
                    + "beta %s, cpo-alpha %s%n", split.train().size(), split.eval().size(), split.truncated(),
                    cpo.lossType().trlName(), cpo.beta(), cpo.cpoAlpha());
            TrainingLoop<PreferencePair> loop = new TrainingLoop<>(new CausalLMState(policy, in.model),
                    new CpoTask(policy, pad, cpo), optim, train, opts.out()).distributed(dist).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(split.train(), split.eval(), opts.resume);
            spec.commandLine().getOut().printf("cpo: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }
}
