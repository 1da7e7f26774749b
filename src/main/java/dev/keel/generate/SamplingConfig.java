package dev.keel.generate;

import java.util.Set;

/**
 * How to pick each new token.
 *
 * @param maxNewTokens at most this many tokens per sequence (at least 1)
 * @param temperature  logits are divided by it; 0 means greedy (argmax)
 * @param topK         keep the k most likely tokens; 0 turns it off
 * @param topP         nucleus sampling: keep the smallest set of most likely tokens whose probability reaches
 *                     p (Holtzman et al. 2020); 1 turns it off
 * @param seed         seeds the sampler, so the same call gives the same tokens
 * @param eosTokenIds  a sequence ends after emitting any of these (the token is kept)
 * @param useCache     reuse keys and values of earlier tokens (KV cache); false recomputes the whole
 *                     sequence at each step (slow; a reference for tests)
 * @param logProbs     also return each new token's log-probability ({@link Generation#logProbs}); callers that
 *                     score the tokens again anyway (RL rollouts, evaluation) save a vocabulary-wide
 *                     reduction and a host copy per step without it
 */
public record SamplingConfig(int maxNewTokens, double temperature, int topK, double topP, long seed,
                             Set<Long> eosTokenIds, boolean useCache, boolean logProbs) {
    public SamplingConfig {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("--max-new-tokens must be at least 1, got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("--top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("--top-p must be within (0, 1], got " + topP);
        }
        eosTokenIds = eosTokenIds == null ? Set.of() : Set.copyOf(eosTokenIds);
    }

    /** A configuration that returns log-probabilities. */
    public SamplingConfig(int maxNewTokens, double temperature, int topK, double topP, long seed,
                          Set<Long> eosTokenIds, boolean useCache) {
        this(maxNewTokens, temperature, topK, topP, seed, eosTokenIds, useCache, true);
    }

    /** Greedy decoding of up to {@code maxNewTokens}, stopping at {@code eos}. */
    public static SamplingConfig greedy(int maxNewTokens, Set<Long> eos) {
        return new SamplingConfig(maxNewTokens, 0, 0, 1, 0, eos, true);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public SamplingConfig withCache(boolean on) {
        return new SamplingConfig(maxNewTokens, temperature, topK, topP, seed, eosTokenIds, on, logProbs);
    }

    /** The same without log-probabilities. */
    public SamplingConfig withoutLogProbs() {
        return new SamplingConfig(maxNewTokens, temperature, topK, topP, seed, eosTokenIds, useCache, false);
    }

    public SamplingConfig withSeed(long s) {
        return new SamplingConfig(maxNewTokens, temperature, topK, topP, s, eosTokenIds, useCache, logProbs);
    }
}
