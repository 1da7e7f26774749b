package dev.keel.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.Jsonl;
import dev.keel.model.io.DType;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.reward.Rewards;

@Command(name = "score", mixinStandardHelpOptions = true,
        description = {"Scores (prompt, completion) records with a reward: a reward-model folder or builtin:NAME.",
                "Prints one JSON line per record: {\"line\": N, \"reward\": r}."})
final class ScoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--reward", required = true, description = "Reward model folder, or builtin:NAME.")
    String reward;

    @Option(names = "--adapter", description = "A reward model's LoRA adapter (PEFT's layout, task_type SEQ_CLS, "
            + "with its trained score head), as 'keel reward --lora-r' writes: --reward is then its base model.")
    java.nio.file.Path adapter;

    @Option(names = "--data", required = true, description = "JSONL of {\"prompt\", \"completion\"} (prompt may be empty).")
    java.nio.file.Path data;

    @Option(names = "--batch-size", defaultValue = "16", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Override
    public Integer call() {
        List<Jsonl.Line> lines = Jsonl.read(data);
        List<String> prompts = new ArrayList<>();
        List<String> completions = new ArrayList<>();
        for (Jsonl.Line l : lines) {
            prompts.add(l.has("prompt") ? l.string("prompt", true) : "");
            completions.add(l.string("completion", true));
        }
        Main.startNatives();
        if (adapter != null && reward.startsWith("builtin:")) {
            throw new IllegalArgumentException("--adapter applies to a reward model folder, not " + reward);
        }
        try (RewardSource src = adapter == null ? Rewards.open(reward, batchSize)
                : new ModelReward(java.nio.file.Path.of(reward), adapter, DType.F32, batchSize)) {
            double[] r = src.score(prompts, completions);
            PrintWriter out = spec.commandLine().getOut();
            ObjectMapper json = new ObjectMapper();
            for (int i = 0; i < lines.size(); i++) {
                out.println(json.createObjectNode().put("line", lines.get(i).number()).put("reward", r[i]));
            }
            out.flush();
        }
        return 0;
    }
}
