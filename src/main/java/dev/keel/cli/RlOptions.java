package dev.keel.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import dev.keel.loss.KlEstimator;
import dev.keel.train.rl.RlAlgorithm;
import dev.keel.train.rl.RlConfig;

/** Options of the reward-based trainers (ppo, rloo, grpo), with TRL's names and defaults. */
final class RlOptions {
    @Option(names = "--policy", description = "Policy to start from (Hugging Face layout; usually the SFT model).")
    Path policy;

    @Option(names = "--reward", description = "Reward model folder, or builtin:NAME (e.g. builtin:count:WORD). "
            + "Repeat it for several rewards, summed with --reward-weights (TRL's reward_funcs).")
    List<String> rewards;

    @Option(names = "--reward-weights", split = ",", description = "One weight per --reward (default: 1 each).")
    List<Double> rewardWeights;

    @Option(names = "--prompts", description = "JSONL of {\"prompt\": ...} (or prompt_ids, or messages with --chat).")
    Path prompts;

    @Option(names = "--ref-model", description = "Frozen reference (default: --policy).")
    Path refModel;

    @Option(names = "--chat", description = "Render prompts with the policy's chat template.")
    boolean chat;

    @Option(names = "--iterations", defaultValue = "100", description = "Rollout-and-update rounds. Default: ${DEFAULT-VALUE}.")
    int iterations;

    @Option(names = "--batch-size", defaultValue = "16", description = "Prompts per rollout. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--mini-batch-size", description = "Sequences per gradient step (default: the whole rollout).")
    Integer miniBatchSize;

    @Option(names = "--max-new-tokens", defaultValue = "24", description = "Response length limit. Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.7", description = "Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--cliprange", defaultValue = "0.2", description = "epsilon of the clipped objective. Default: ${DEFAULT-VALUE}.")
    double clipRange;

    @Option(names = "--kl-coef", defaultValue = "0.05", description = "beta of the KL penalty. Default: ${DEFAULT-VALUE}.")
    double klCoef;

    @Option(names = "--kl-estimator", defaultValue = "k1", description = "k1 or k3. Default: ${DEFAULT-VALUE}.")
    String klEstimator;

    @Option(names = "--kl-target", defaultValue = "0", description = "Adaptive KL target (0 = fixed --kl-coef).")
    double klTarget;

    @Option(names = "--kl-horizon", defaultValue = "10000", description = "Adaptive KL horizon. Default: ${DEFAULT-VALUE}.")
    double klHorizon;

    @Option(names = "--reward-clip", defaultValue = "0", description = "Clip scores to [-c, c] (0 = off).")
    double rewardClip;

    @Option(names = "--missing-eos-penalty", description = "Subtracted from the score of a completion without EOS.")
    Double missingEosPenalty;

    @Option(names = "--ref-ema-decay", defaultValue = "0", description = "EMA of the policy as reference (0 = frozen).")
    double refEmaDecay;

    @Option(names = "--dtype", defaultValue = "float32")
    String dtype;

    @Mixin
    ComputeOptions compute;

    @Option(names = "--save-every", defaultValue = "0", description = "Iterations between checkpoints (0 = none).")
    int saveEvery;

    @Option(names = "--save-total-limit", defaultValue = "2", description = "Checkpoints kept. Default: ${DEFAULT-VALUE}.")
    int saveTotalLimit;

    @Option(names = "--resume", description = "Continue from the newest complete checkpoint in --out; ends with the "
            + "weights an uninterrupted run would have.")
    boolean resume;

    /** The settings of a run of {@code algorithm}, after checking the required options. */
    RlConfig config(RlAlgorithm<?> algorithm, int epochs, long seed) {
        TrainOptions.required(policy, "--policy");
        TrainOptions.required(rewards, "--reward");
        if (rewardWeights != null && rewardWeights.size() != rewards.size()) {
            throw new IllegalArgumentException("--reward-weights needs one weight per --reward: " + rewards.size()
                    + " rewards, " + rewardWeights.size() + " weights");
        }
        TrainOptions.required(prompts, "--prompts");
        if (miniBatchSize != null && miniBatchSize < 1) {
            throw new IllegalArgumentException("--mini-batch-size must be at least 1, got " + miniBatchSize);
        }
        if (saveEvery < 0 || saveTotalLimit < 1) {
            throw new IllegalArgumentException("--save-every must be >= 0 and --save-total-limit >= 1, got "
                    + saveEvery + " and " + saveTotalLimit);
        }
        if (klTarget < 0 || rewardClip < 0) {
            throw new IllegalArgumentException("--kl-target and --reward-clip must be >= 0 (0 = off)");
        }
        return new RlConfig(algorithm,
                new RlConfig.Sampling(iterations, batchSize, maxNewTokens, temperature),
                new RlConfig.Updates(epochs, miniBatchSize != null ? miniBatchSize : 0, clipRange),
                new RlConfig.KlPenalty(klCoef, KlEstimator.parse(klEstimator),
                        klTarget > 0 ? Optional.of(new RlConfig.Adaptive(klTarget, klHorizon)) : Optional.empty(),
                        refEmaDecay),
                new RlConfig.Scores(missingEosPenalty != null ? OptionalDouble.of(missingEosPenalty) : OptionalDouble.empty(),
                        rewardClip > 0 ? OptionalDouble.of(rewardClip) : OptionalDouble.empty()),
                seed);
    }
}
