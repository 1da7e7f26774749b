package dev.keel.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.eval.ExperimentConfig;
import dev.keel.eval.Report;
import dev.keel.eval.SentimentExperiment;
import dev.keel.reward.RewardSource;
import dev.keel.reward.Rewards;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Keel's main job on its embedded model: the DPO paper's controlled sentiment experiment in "
                + "miniature. SFT on review sentences, preference pairs sampled and labelled by the gold reward "
                + "(VADER), a reward model, then PPO, DPO at several beta, IPO, GRPO and best-of-N, each evaluated by "
                + "gold reward, KL to the SFT model, win rate and cost.",
                "Writes report.html (reward-vs-KL frontier, curves, table, samples) and results.json into --out.",
                "About 10 minutes on 2 cores; --quick about 2."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", defaultValue = "keel-demo", description = "Output folder. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--quick", description = "Smaller everything: about two minutes, for CI.")
    boolean quick;

    @Override
    public Integer call() throws IOException {
        return run(spec, out, quick ? ExperimentConfig.quick() : ExperimentConfig.full(),
                "keel demo" + (quick ? " --quick" : "") + " --out " + out, "builtin:sentiment", false);
    }

    static int run(CommandSpec spec, Path out, ExperimentConfig cfg, String command, String goldSpec,
                   boolean rewardModelOnly) throws IOException {
        RunFolder.createAndLock(out);
        Main.startNatives();
        var err = spec.commandLine().getErr();
        try (RewardSource gold = Rewards.open(goldSpec, 64)) {
            List<SentimentExperiment.Results> runs = SentimentExperiment.runSeeds(cfg, out, gold, s -> {
                err.println(s);
                err.flush();
            }, rewardModelOnly);
            Report.write(runs, out, command);
            spec.commandLine().getOut().printf("report: %s%nresults: %s%ntotal: %.0f s%n",
                    out.resolve("report.html").toAbsolutePath(), out.resolve("results.json").toAbsolutePath(),
                    runs.stream().mapToDouble(SentimentExperiment.Results::totalSeconds).sum());
        }
        return 0;
    }
}
