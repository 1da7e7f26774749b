package dev.keel.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.eval.ExperimentConfig;

@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = {"Runs a named experiment with its settings exposed. Experiments: sentiment (what 'keel demo' runs).",
                "Example: keel experiment sentiment --out exp --dpo-betas 0.05,0.1,0.5 --ppo-kl-coefs 0.02,0.2"})
final class ExperimentCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", description = "The experiment: sentiment.")
    String name;

    @Option(names = "--out", required = true)
    Path out;

    @Option(names = "--quick", description = "Start from the quick sizes instead of the full ones.")
    boolean quick;

    @Option(names = "--sft-sentences", description = "Review sentences for SFT (0 = all).") Integer sftSentences;
    @Option(names = "--sft-epochs") Integer sftEpochs;
    @Option(names = "--pair-prompts", description = "Prompts sampled for preference pairs.") Integer pairPrompts;
    @Option(names = "--samples-per-prompt") Integer samplesPerPrompt;
    @Option(names = "--eval-prompts") Integer evalPrompts;
    @Option(names = "--max-new-tokens") Integer maxNewTokens;
    @Option(names = "--rm-epochs") Integer rmEpochs;
    @Option(names = "--dpo-epochs") Integer dpoEpochs;
    @Option(names = "--dpo-betas", split = ",") List<Double> dpoBetas;
    @Option(names = "--ipo-beta", description = "0 skips IPO.") Double ipoBeta;
    @Option(names = "--ppo-iterations") Integer ppoIterations;
    @Option(names = "--rl-batch", description = "Prompts per PPO rollout.") Integer rlBatch;
    @Option(names = "--ppo-kl-coefs", split = ",") List<Double> ppoKlCoefs;
    @Option(names = "--no-ppo-gold", description = "Skip PPO against the gold reward.") boolean noPpoGold;
    @Option(names = "--grpo-iterations", description = "0 skips GRPO.") Integer grpoIterations;
    @Option(names = "--best-of-n", split = ",") List<Integer> bestOfN;
    @Option(names = "--seed") Long seed;
    @Option(names = "--gold", defaultValue = "builtin:sentiment",
            description = "The gold reward that labels pairs and judges. Default: ${DEFAULT-VALUE}.")
    String gold;

    @Override
    public Integer call() throws IOException {
        if (!name.equals("sentiment")) {
            throw new IllegalArgumentException("unknown experiment '" + name + "' (experiments: sentiment)");
        }
        ExperimentConfig d = quick ? ExperimentConfig.quick() : ExperimentConfig.full();
        ExperimentConfig c = new ExperimentConfig(or(sftSentences, d.sftSentences()), or(sftEpochs, d.sftEpochs()), or(pairPrompts, d.pairPrompts()),
                or(samplesPerPrompt, d.samplesPerPrompt()), or(evalPrompts, d.evalPrompts()),
                or(maxNewTokens, d.maxNewTokens()), or(rmEpochs, d.rmEpochs()), or(dpoEpochs, d.dpoEpochs()),
                or(dpoBetas, d.dpoBetas()), or(ipoBeta, d.ipoBeta()), or(ppoIterations, d.ppoIterations()),
                or(rlBatch, d.rlBatch()), or(ppoKlCoefs, d.ppoKlCoefs()), d.ppoGold() && !noPpoGold,
                or(grpoIterations, d.grpoIterations()), or(bestOfN, d.bestOfN()), or(seed, d.seed()));
        return DemoCommand.run(spec, out, c, "keel " + String.join(" ",
                spec.commandLine().getParseResult().originalArgs()), gold);
    }

    private static <T> T or(T v, T d) {
        return v != null ? v : d;
    }
}
