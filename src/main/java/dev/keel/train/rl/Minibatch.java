package dev.keel.train.rl;

import org.bytedeco.pytorch.Tensor;

/**
 * Rows of a rollout for one gradient step.
 *
 * @param rollout the rows' sequences
 * @param mask    (b, R) float, 1 for response tokens
 * @param logpNew (b, R) log-probs under the policy being trained, with a graph
 * @param logpOld (b, R) log-probs under the sampling policy
 * @param logpRef (b, R) log-probs under the reference
 */
public record Minibatch(Rollout rollout, Tensor mask, Tensor logpNew, Tensor logpOld, Tensor logpRef) {}
