package dev.keel.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.PreferencePair;
import dev.keel.loss.DpoLossType;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.TrainConfig;
import dev.keel.dist.Distributed;
import dev.keel.train.TrainingLoop;

@Command(name = "dpo", mixinStandardHelpOptions = true,
        description = {"Direct Preference Optimization and its family on (prompt, chosen, rejected) records: no reward "
                + "model, no sampling.",
                "Loss types: sigmoid (DPO; with --label-smoothing, cDPO), robust, hinge, ipo, bco_pair, sppo_hard, "
                + "nca_pair, apo_zero, apo_down.",
                "The reference log-probs are computed once before training (from --ref-model, default --model) "
                + "and kept in reference_logps.json, so no reference model stays in memory; --reference-free "
                + "uses 0. With --lora-r the reference is the base model with the adapters off.",
                "Default --lr: 1e-6.",
                "Metrics (TRL's names): rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, "
                + "logps/chosen, logps/rejected, logits/chosen, logits/rejected."})
final class DpoCommand implements Callable<Integer> {
    static final String REFERENCE_FILE = "reference_logps.json";

    @Spec
    CommandSpec spec;

    @Mixin
    PreferenceInputs in;

    @Option(names = "--beta", defaultValue = "0.1", description = "KL strength beta. Default: ${DEFAULT-VALUE}.")
    double beta;

    @Option(names = "--loss-type", defaultValue = "sigmoid", description = "Default: ${DEFAULT-VALUE}.")
    String lossType;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "epsilon of cDPO and robust DPO. Default: ${DEFAULT-VALUE}.")
    double labelSmoothing;

    @Option(names = "--reference-free", description = "log pi_ref = 0.")
    boolean referenceFree;

    @Option(names = "--ref-model", description = "Reference model (default: --model).")
    Path refModel;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of a DPO run. */
    record Settings(PreferenceInputs.Settings inputs, Path refModel, DpoConfig dpo, OptimConfig optim,
                    TrainConfig train, LoraConfig lora) {}

    @Override
    public Integer call() {
        DpoConfig dpo = new DpoConfig(DpoLossType.parse(lossType), beta, labelSmoothing, referenceFree);
        if (dpo.lossType() == DpoLossType.SIGMOID && labelSmoothing > 0) {
            // docs/ALGORITHMS.md §3 (d): the one place Keel's meaning of a TRL option differs from current TRL's
            spec.commandLine().getErr().println("keel dpo: warning: --label-smoothing " + labelSmoothing + " with "
                    + "sigmoid trains cDPO (the DPO authors' and older TRL's behaviour); current TRL ignores "
                    + "label_smoothing for sigmoid, so a TRL config with it trained plain DPO");
        }
        var optim = opts.optim(1e-6);
        var train = opts.train();
        TrainOptions.required(in.model, "--model");
        Main.startNatives();
        Distributed dist = opts.run.distributed();
        DType dt = DType.parseFloat(in.dtype);
        CausalLM policy = ModelFiles.load(in.model, dt, null);
        LoraConfig loraConfig = lora.apply(policy, opts.seed());
        if (!dpo.referenceFree()) {
            TrainCommands.sameVocabulary(in.model, policy.config().vocabSize(), refModel, "--ref-model");
        }
        try (Tokenizer tok = Tokenizer.load(in.model)) {
            PreferenceInputs.Split<PreferencePair> split = in.read(tok, policy.config().vocabSize(), policy.config().maxPositions(), opts);
            List<PreferencePair> all = new ArrayList<>(split.train());
            all.addAll(split.eval());
            RunFolder.prepare(dist, opts.out(), opts.resume, "dpo", new Settings(in.settings(opts), refModel, dpo, optim, train, loraConfig));
            long pad = tok.padId() != null ? tok.padId() : 0;
            ReferenceLogps reference = reference(dpo, all, policy, pad, dist);
            spec.commandLine().getErr().printf("keel dpo: %d training and %d held-out pairs (%d truncated), loss %s, beta %s%n",
                    split.train().size(), split.eval().size(), split.truncated(), dpo.lossType().trlName(), dpo.beta());
            TrainingLoop<PreferencePair> loop = new TrainingLoop<>(new CausalLMState(policy, in.model),
                    new DpoTask(policy, pad, dpo, reference), optim, train, opts.out())
                    .distributed(dist).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(split.train(), split.eval(), opts.resume);
            spec.commandLine().getOut().printf("dpo: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }

    /**
     * The reference log-probs: read back from the run folder when resuming (the policy has moved since), else
     * computed in one batched pass (by the policy itself, before its first step, when the reference is the
     * starting model) and saved.
     */
    private ReferenceLogps reference(DpoConfig dpo, List<PreferencePair> pairs, CausalLM policy, long pad,
                                     Distributed dist) {
        if (dpo.referenceFree()) {
            return ReferenceLogps.referenceFree();
        }
        Path file = opts.out().resolve(REFERENCE_FILE);
        if (opts.resume && Files.isRegularFile(file)) {
            return ReferenceLogps.load(file, pairs);
        }
        CausalLM ref = refModel == null ? policy : ModelFiles.load(refModel, DType.parseFloat(in.dtype), null);
        ReferenceLogps r;
        try (var off = policy.adaptersOff()) { // with LoRA, the reference is the base: the adapters off
            r = ReferenceLogps.compute(ref, pairs, Math.max(2, 2 * opts.batchSize), pad, dist);
        }
        if (dist.isMain()) {
            r.save(file, pairs);
        }
        return r;
    }
}
