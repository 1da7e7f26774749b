package dev.keel.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;

import dev.keel.loss.KlEstimator;
import dev.keel.train.RlConfig;

/** Options of the reward-based trainers (ppo, rloo, grpo), with TRL's names and defaults. */
final class RlOptions {
    @Option(names = "--policy", description = "Policy to start from (Hugging Face layout; usually the SFT model).")
    Path policy;

    @Option(names = "--reward", description = "Reward model folder, or builtin:NAME (e.g. builtin:count:WORD).")
    String reward;

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

    @Option(names = "--num-ppo-epochs", defaultValue = "4", description = "Passes over each rollout. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--max-new-tokens", defaultValue = "24", description = "Response length limit. Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.7", description = "Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--kl-coef", defaultValue = "0.05", description = "beta of the KL penalty. Default: ${DEFAULT-VALUE}.")
    double klCoef;

    @Option(names = "--kl-estimator", defaultValue = "k1", description = "k1 or k3. Default: ${DEFAULT-VALUE}.")
    String klEstimator;

    @Option(names = "--kl-target", defaultValue = "0", description = "Adaptive KL target (0 = fixed --kl-coef).")
    double klTarget;

    @Option(names = "--kl-horizon", defaultValue = "10000", description = "Adaptive KL horizon. Default: ${DEFAULT-VALUE}.")
    double klHorizon;

    @Option(names = "--cliprange", defaultValue = "0.2")
    double clipRange;

    @Option(names = "--cliprange-value", defaultValue = "0.2")
    double clipRangeValue;

    @Option(names = "--vf-coef", defaultValue = "0.1")
    double vfCoef;

    @Option(names = "--gamma", defaultValue = "1.0")
    double gamma;

    @Option(names = "--lam", defaultValue = "0.95")
    double lam;

    @Option(names = "--whiten-rewards", description = "Whiten per-token rewards before GAE.")
    boolean whitenRewards;

    @Option(names = "--reward-clip", defaultValue = "0", description = "Clip scores to [-c, c] (0 = off).")
    double rewardClip;

    @Option(names = "--missing-eos-penalty", description = "Subtracted from the score of a completion without EOS.")
    Double missingEosPenalty;

    @Option(names = "--ref-ema-decay", defaultValue = "0", description = "EMA of the policy as reference (0 = frozen).")
    double refEmaDecay;

    @Option(names = "--dtype", defaultValue = "float32")
    String dtype;

    RlConfig config(RlConfig.Algorithm algorithm, int samplesPerPrompt, int defaultEpochs, long seed) {
        TrainOptions.required(policy, "--policy");
        TrainOptions.required(reward, "--reward");
        TrainOptions.required(prompts, "--prompts");
        int rollout = batchSize * samplesPerPrompt;
        return new RlConfig(algorithm, iterations, batchSize, samplesPerPrompt,
                miniBatchSize != null ? miniBatchSize : rollout, epochs > 0 ? epochs : defaultEpochs, maxNewTokens,
                temperature, klCoef, KlEstimator.parse(klEstimator), klTarget, klHorizon, clipRange, clipRangeValue,
                vfCoef, gamma, lam, whitenRewards, rewardClip, missingEosPenalty == null ? Double.NaN : missingEosPenalty,
                refEmaDecay, seed);
    }
}
