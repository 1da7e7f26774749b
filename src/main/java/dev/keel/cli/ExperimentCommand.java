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
import dev.keel.eval.Report;
import dev.keel.eval.RunsJson;

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
    @Option(names = "--min-gold-margin", description = "Pairs whose gold rewards differ by less are ties and are not used.")
    Double minGoldMargin;
    @Option(names = "--eval-prompts") Integer evalPrompts;
    @Option(names = "--max-new-tokens") Integer maxNewTokens;
    @Option(names = "--rm-epochs") Integer rmEpochs;
    @Option(names = "--dpo-epochs") Integer dpoEpochs;
    @Option(names = "--eval-points", description = "Evaluations along each DPO and RL run (the last at its end).")
    Integer evalPoints;
    @Option(names = "--dpo-betas", split = ",") List<Double> dpoBetas;
    @Option(names = "--ipo-beta", description = "0 skips IPO.") Double ipoBeta;
    @Option(names = "--ppo-iterations") Integer ppoIterations;
    @Option(names = "--rl-batch", description = "Prompts per PPO rollout.") Integer rlBatch;
    @Option(names = "--ppo-kl-coefs", split = ",") List<Double> ppoKlCoefs;
    @Option(names = "--missing-eos-penalty", description = "Subtracted from an RL score when the completion has no EOS (0 = none).")
    Double missingEosPenalty;
    @Option(names = "--no-ppo-gold", description = "Skip PPO against the gold reward.") boolean noPpoGold;
    @Option(names = "--grpo-iterations", description = "0 skips GRPO.") Integer grpoIterations;
    @Option(names = "--best-of-n", split = ",") List<Integer> bestOfN;
    @Option(names = "--off-policy-dpo", negatable = true, description = "Also run DPO on pairs written by people "
            + "(the out-of-distribution question of Xu et al. 2024).") Boolean offPolicyDpo;
    @Option(names = "--dpo-iter-rounds", description = "Rounds of iterative DPO against the learned reward (0 skips).")
    Integer dpoIterRounds;
    @Option(names = "--ppo-matched-budget", description = "Also run PPO with as many episodes as DPO's pairs took samples.")
    boolean matchedBudget;
    @Option(names = "--xu-ablation", description = "Also run PPO without advantage whitening, with 4x batches (same "
            + "episodes) and with an EMA reference: Xu et al. 2024's three factors.") boolean xuAblation;
    @Option(names = "--reward-model-only", description = "Stop after the reward model (SFT, pairs, reward model), "
            + "to study its held-out accuracy.") boolean rewardModelOnly;
    @Option(names = "--methods", split = ",", description = "Optional methods to add: kto, orpo, simpo (on DPO's "
            + "pairs), online-dpo (on PPO's prompts, learned reward).") List<String> extra;
    @Option(names = "--report-only", description = "Draw report.html, results.json and frontier.svg again from the "
            + "runs.json an earlier run wrote into --out, without training (the other options are ignored).")
    boolean reportOnly;
    @Option(names = "--seeds", description = "Run the whole pipeline this many times (seeds --seed, --seed + 1, ...); "
            + "the report shows means with 95% intervals.") Integer seeds;
    @Option(names = "--seed") Long seed;
    @Option(names = "--gold", defaultValue = "builtin:sentiment",
            description = "The gold reward that labels pairs and judges. Default: ${DEFAULT-VALUE}.")
    String gold;

    @Override
    public Integer call() throws IOException {
        if (!name.equals("sentiment")) {
            throw new IllegalArgumentException("unknown experiment '" + name + "' (experiments: sentiment)");
        }
        if (reportOnly) {
            RunFolder.createAndLock(out);
            RunsJson.Saved saved = RunsJson.read(out);
            Report.write(saved.runs(), out, saved.command());
            spec.commandLine().getOut().printf("report: %s%n", out.resolve("report.html").toAbsolutePath());
            return 0;
        }
        ExperimentConfig d = quick ? ExperimentConfig.quick() : ExperimentConfig.full();
        ExperimentConfig.Data dd = d.data();
        ExperimentConfig.Training dt = d.training();
        ExperimentConfig.Methods dm = d.methods();
        ExperimentConfig c = new ExperimentConfig(
                new ExperimentConfig.Data(or(sftSentences, dd.sftSentences()), or(pairPrompts, dd.pairPrompts()),
                        or(samplesPerPrompt, dd.samplesPerPrompt()), or(minGoldMargin, dd.minGoldMargin()),
                        or(evalPrompts, dd.evalPrompts()), or(maxNewTokens, dd.maxNewTokens())),
                new ExperimentConfig.Training(or(sftEpochs, dt.sftEpochs()), or(rmEpochs, dt.rmEpochs()),
                        or(dpoEpochs, dt.dpoEpochs()), or(evalPoints, dt.evalPoints())),
                new ExperimentConfig.Methods(or(dpoBetas, dm.dpoBetas()), or(ipoBeta, dm.ipoBeta()),
                        or(ppoKlCoefs, dm.ppoKlCoefs()), or(ppoIterations, dm.ppoIterations()), or(rlBatch, dm.rlBatch()),
                        or(missingEosPenalty, dm.missingEosPenalty()), dm.ppoGold() && !noPpoGold,
                        or(grpoIterations, dm.grpoIterations()), or(bestOfN, dm.bestOfN()),
                        or(offPolicyDpo, dm.offPolicyDpo()), or(dpoIterRounds, dm.dpoIterRounds()),
                        matchedBudget || dm.matchedBudget(), xuAblation || dm.xuAblation(),
                        extra != null ? extra.stream().map(ExperimentConfig.Extra::parse).toList() : dm.extra()),
                or(seeds, d.seeds()), or(seed, d.seed()));
        return DemoCommand.run(spec, out, c, "keel " + String.join(" ",
                spec.commandLine().getParseResult().originalArgs()), gold, rewardModelOnly);
    }

    private static <T> T or(T v, T d) {
        return v != null ? v : d;
    }
}
