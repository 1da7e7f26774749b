package dev.keel.train.rl;

import java.util.OptionalDouble;

/**
 * What is logged of the updates on one rollout, means over its minibatch steps, with TRL's metric names.
 *
 * @param approxKl      {@code policy/approxkl_avg}
 * @param clipFrac      {@code policy/clipfrac_avg}
 * @param entropy       {@code policy/entropy_avg}: mean token entropy of the policy being trained
 * @param policyLoss    {@code loss/policy_avg}
 * @param valueLoss     {@code loss/value_avg} (PPO only)
 * @param valueClipFrac {@code val/clipfrac_avg} (PPO only)
 * @param ratio         {@code val/ratio}: mean probability ratio to the sampling policy
 * @param lr            the learning rate of the last step
 * @param extra         the method's own diagnostics ({@link RlAlgorithm.StepLoss#metrics}), means over the steps
 */
public record UpdateStats(double approxKl, double clipFrac, double entropy, double policyLoss, OptionalDouble valueLoss,
                          OptionalDouble valueClipFrac, double ratio, double lr, java.util.Map<String, Double> extra) {}
