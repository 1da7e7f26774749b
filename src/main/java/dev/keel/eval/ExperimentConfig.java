package dev.keel.eval;

import java.util.List;

/**
 * Sizes of the controlled-sentiment experiment. {@link #full()} fits in about ten minutes on 2 cores;
 * {@link #quick()} in about two, for CI.
 *
 * @param sftSentences      review sentences for SFT (0 = all not held out)
 * @param sftEpochs         passes of SFT over the review sentences
 * @param pairPrompts       training prompts used to sample preference pairs
 * @param samplesPerPrompt  completions sampled per prompt to make pairs (best vs worst by gold reward)
 * @param evalPrompts       held-out prompts for evaluation (one fresh sample each per policy)
 * @param maxNewTokens      completion length limit everywhere
 * @param dpoBetas          β of each DPO (sigmoid) run
 * @param ipoBeta           β of the IPO run (0 = skip)
 * @param ppoIterations     PPO iterations (rollouts of {@code rlBatch} prompts)
 * @param ppoKlCoefs        KL coefficients of the PPO runs against the learned reward
 * @param bestOfN           N values of best-of-N sampling from the SFT model
 */
public record ExperimentConfig(int sftSentences, int sftEpochs, int pairPrompts, int samplesPerPrompt, int evalPrompts, int maxNewTokens,
                               int rmEpochs, int dpoEpochs, List<Double> dpoBetas, double ipoBeta, int ppoIterations,
                               int rlBatch, List<Double> ppoKlCoefs, boolean ppoGold, int grpoIterations,
                               List<Integer> bestOfN, long seed) {

    public ExperimentConfig {
        if (sftSentences < 0 || sftEpochs < 1 || pairPrompts < 8 || samplesPerPrompt < 2 || evalPrompts < 4
                || maxNewTokens < 1 || rmEpochs < 1 || dpoEpochs < 1 || ppoIterations < 1 || rlBatch < 2) {
            throw new IllegalArgumentException("experiment sizes out of range: --sft-epochs, --rm-epochs, --dpo-epochs, "
                    + "--ppo-iterations >= 1; --pair-prompts >= 8; --samples-per-prompt >= 2; --eval-prompts >= 4; "
                    + "--rl-batch >= 2");
        }
        if (ppoKlCoefs.isEmpty() || dpoBetas.stream().anyMatch(b -> !(b > 0)) || ppoKlCoefs.stream().anyMatch(b -> b < 0)) {
            throw new IllegalArgumentException("--dpo-betas must be > 0; --ppo-kl-coefs needs at least one value >= 0");
        }
        if (bestOfN.stream().anyMatch(n -> n < 1)) {
            throw new IllegalArgumentException("--best-of-n values must be at least 1");
        }
        dpoBetas = List.copyOf(dpoBetas);
        ppoKlCoefs = List.copyOf(ppoKlCoefs);
        bestOfN = List.copyOf(bestOfN);
    }

    public static ExperimentConfig full() {
        return new ExperimentConfig(0, 1, 384, 6, 192, 16, 3, 2, List.of(0.05, 0.1, 0.5), 0.1, 32, 24,
                List.of(0.05, 0.2), true, 24, List.of(2, 4, 8, 16), 42);
    }

    public static ExperimentConfig quick() {
        return new ExperimentConfig(600, 1, 64, 4, 48, 12, 1, 1, List.of(0.1), 0.1, 6, 8, List.of(0.05), true, 4,
                List.of(4), 42);
    }
}
