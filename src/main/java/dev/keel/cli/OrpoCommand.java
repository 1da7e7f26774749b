package dev.keel.cli;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.OptimConfig;
import dev.keel.train.OrpoConfig;
import dev.keel.train.OrpoTask;
import dev.keel.train.TrainConfig;
import dev.keel.dist.Distributed;
import dev.keel.train.TrainingLoop;

@Command(name = "orpo", mixinStandardHelpOptions = true,
        description = {"Odds Ratio Preference Optimization (Hong et al. 2024) on (prompt, chosen, rejected) records: "
                + "the NLL of the chosen completions plus beta times the log-odds-ratio term, on length-averaged "
                + "log-probs; no reference model.",
                "Default --lr: 1e-6 (TRL's ORPOConfig).",
                "Metrics (TRL's names): rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, "
                + "logps/chosen, logps/rejected, logits/chosen, logits/rejected, nll_loss, log_odds_ratio, "
                + "log_odds_chosen."})
final class OrpoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    PreferenceInputs in;

    @Option(names = "--beta", defaultValue = "0.1",
            description = "lambda, the weight of the odds-ratio term (TRL's beta). Default: ${DEFAULT-VALUE}.")
    double beta;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of an ORPO run. */
    record Settings(PreferenceInputs.Settings inputs, OrpoConfig orpo, OptimConfig optim, TrainConfig train,
                    LoraConfig lora) {}

    @Override
    public Integer call() {
        OrpoConfig orpo = new OrpoConfig(beta);
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
            RunFolder.prepare(dist, opts.out(), opts.resume, "orpo", new Settings(in.settings(opts), orpo, optim, train, loraConfig));
            long pad = tok.padId() != null ? tok.padId() : 0;
            spec.commandLine().getErr().printf("keel orpo: %d training and %d held-out pairs (%d truncated), beta %s%n",
                    split.train().size(), split.eval().size(), split.truncated(), orpo.beta());
            TrainingLoop<PreferencePair> loop = new TrainingLoop<>(new CausalLMState(policy, in.model),
                    new OrpoTask(policy, pad, orpo), optim, train, opts.out()).distributed(dist).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(split.train(), split.eval(), opts.resume);
            spec.commandLine().getOut().printf("orpo: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }
}
