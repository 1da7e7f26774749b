package dev.keel.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.LmExample;
import dev.keel.data.SftData;
import dev.keel.data.Truncation;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.LmTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;
import dev.keel.dist.Distributed;
import dev.keel.train.TrainingLoop;

@Command(name = "sft", mixinStandardHelpOptions = true,
        description = {"Supervised fine-tuning: next-token loss on {\"text\"} (all tokens), {\"prompt\",\"completion\"} "
                + "(completion tokens only) or {\"messages\"} (assistant turns only) records.",
                "Default --lr: 2e-5.",
                "Every record is validated before training; a bad one stops the run with FILE:LINE and nothing "
                + "is written."})
final class SftCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "Model directory to start from (Hugging Face layout).")
    Path model;

    @Option(names = "--data", description = "Training records (JSONL).")
    Path data;

    @Option(names = "--max-length", defaultValue = "1024", description = "Tokens per record. Default: ${DEFAULT-VALUE}.")
    int maxLength;

    @Option(names = "--truncation", defaultValue = "keep_start",
            description = "keep_start (cut and count) or error. Default: ${DEFAULT-VALUE}.")
    String truncation;

    @Option(names = "--packing", description = "Join {\"text\"} records and cut them into --max-length blocks.")
    boolean packing;

    @Option(names = "--dtype", defaultValue = "float32", description = "Training dtype. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Mixin
    TrainOptions opts;

    @Mixin
    LoraOptions lora;

    /** What run_config.json records of an SFT run. */
    record Settings(Path model, Path data, Path evalData, int maxLength, boolean packing, String dtype, OptimConfig optim,
                    TrainConfig train, LoraConfig lora) {}

    @Override
    public Integer call() {
        TrainOptions.required(model, "--model");
        TrainOptions.required(data, "--data");
        Truncation trunc = TrainCommands.truncation(truncation);
        var optim = opts.optim(2e-5);
        var train = opts.train();
        Main.startNatives();
        Distributed dist = opts.run.distributed();
        CausalLM m = ModelFiles.load(model, DType.parseFloat(dtype), null);
        LoraConfig loraConfig = lora.apply(m, opts.seed());
        try (Tokenizer tok = Tokenizer.load(model)) {
            int maxLen = Math.min(maxLength, m.config().maxPositions());
            SftData.ConversationEncoder chat = TrainCommands.conversationEncoder(model, tok);
            SftData.Result all = SftData.read(data, tok, m.config().vocabSize(), maxLen, trunc, packing, chat);
            List<LmExample> trainSet = all.examples();
            List<LmExample> evalSet = List.of();
            if (opts.evalData != null) {
                evalSet = SftData.read(opts.evalData, tok, m.config().vocabSize(), maxLen, trunc, packing, chat).examples();
            } else if (opts.evalFraction > 0) {
                List<List<LmExample>> parts = RunFolder.split(trainSet, opts.evalFraction, opts.seed());
                trainSet = parts.get(0);
                evalSet = parts.get(1);
            }
            RunFolder.prepare(dist, opts.out(), opts.resume, "sft", new Settings(model, data, opts.evalData, maxLen, packing,
                    dtype, optim, train, loraConfig));
            spec.commandLine().getErr().printf("keel sft: %d training and %d held-out examples (%d truncated to %d tokens)%n",
                    trainSet.size(), evalSet.size(), all.truncated(), maxLen);
            TrainingLoop<LmExample> loop = new TrainingLoop<>(new CausalLMState(m, model),
                    new LmTask(m, tok.padId() != null ? tok.padId() : 0), optim, train, opts.out()).distributed(dist).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(trainSet, evalSet, opts.resume);
            spec.commandLine().getOut().printf("sft: %d steps; last %s%s%n", r.steps(), r.lastLog(),
                    r.eval().isEmpty() ? "" : "; held-out " + r.eval());
        }
        return 0;
    }
}
