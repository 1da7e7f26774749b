package dev.keel.train.rl;

import org.bytedeco.pytorch.Tensor;

/**
 * A rollout after scoring: what every method's targets read.
 *
 * @param rollout the sampled sequences
 * @param mask    (B, R) float, 1 for response tokens (EOS included)
 * @param score   (B) the reward's scores, after the missing-EOS penalty and clipping
 * @param logpOld (B, R) log-probs of the sampled tokens under the sampling policy (logits / T), 0 at padding
 * @param logpRef (B, R) the same under the reference, 0 at padding
 * @param kl      (B, R) the per-token KL estimate between the two, 0 at padding
 * @param values  (B, R) the value model's predictions when the rollout was scored, 0 at padding; null for a
 *                method without a value model
 */
public record Scored(Rollout rollout, Tensor mask, Tensor score, Tensor logpOld, Tensor logpRef, Tensor kl,
                     Tensor values) {}
