package dev.keel.cli;

import java.util.concurrent.Callable;

import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.Head;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.RewardTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;
import dev.keel.dist.Distributed;
import dev.keel.train.TrainingLoop;

@Command(name = "reward", mixinStandardHelpOptions = true,
        description = {"Trains a reward model on (prompt, chosen, rejected) records with the Bradley-Terry loss, "
                + "with an optional per-pair \"margin\" and --center-rewards-coefficient.",
                "Defaults are TRL's RewardConfig's (transformers' TrainingArguments): --lr 5e-5, 3 epochs, batch 8, "
                + "linear schedule, clipping at 1.0; the new head is drawn from N(0, initializer_range) as transformers' "
                + "...ForSequenceClassification does.",
                "Starts from a causal LM (its decoder, with a new scalar head) or a reward model; saves a "
                + "...ForSequenceClassification model (num_labels 1, score.weight).",
                "Metrics: accuracy, margin, min_reward, mean_reward, max_reward, on train and held-out pairs."})
final class RewardCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    PreferenceInputs in;

    @Option(names = "--center-rewards-coefficient", defaultValue = "0",
            description = "c in c * mean((r_w + r_l)^2), TRL's centring term (0 = off).")
    double center;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of a reward-model run. */
    record Settings(PreferenceInputs.Settings inputs, double centerRewardsCoefficient, OptimConfig optim,
                    TrainConfig train, LoraConfig lora) {}

    @Override
    public Integer call() {
        var optim = opts.optim(5e-5);
        var train = opts.train();
        TrainOptions.required(in.model, "--model");
        Main.startNatives();
        Distributed dist = opts.run.distributed();
        torch.manual_seed(opts.seed()); // the new head's initialisation
        CausalLM m = ModelFiles.load(in.model, DType.parseFloat(in.dtype), null, Head.SCORE);
        LoraConfig loraConfig = lora.apply(m, opts.seed());
        try (Tokenizer tok = Tokenizer.load(in.model)) {
            PreferenceInputs.Split<PreferencePair> split = in.read(tok, m.config().vocabSize(), m.config().maxPositions(), opts);
            RunFolder.prepare(dist, opts.out(), opts.resume, "reward", new Settings(in.settings(opts), center, optim, train, loraConfig));
            spec.commandLine().getErr().printf("keel reward: %d training and %d held-out pairs (%d truncated)%n",
                    split.train().size(), split.eval().size(), split.truncated());
            long pad = tok.padId() != null ? tok.padId() : 0;
            TrainingLoop<PreferencePair> loop = new TrainingLoop<>(new CausalLMState(m, in.model),
                    new RewardTask(m, pad, center), optim, train, opts.out()).distributed(dist).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(split.train(), split.eval(), opts.resume);
            spec.commandLine().getOut().printf("reward: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }
}
