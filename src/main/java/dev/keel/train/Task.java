package dev.keel.train;

import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;

/**
 * One training algorithm's step, for the shared loop: a forward pass over a batch giving a loss summed over
 * the batch, and how much the batch weighs (tokens for language modelling, pairs for preference losses), so
 * that the loop can average over a whole accumulated batch exactly as one large batch would.
 */
public interface Task<T> {
    /** The batch's share of the average: e.g. how many tokens count. */
    double weight(List<T> batch);

    /** The loss summed over the batch (with a graph when gradients are on) and the batch's metrics. */
    Output forward(List<T> batch);

    /**
     * Whether a batch's loss sum and metrics are the sums of its examples' own, so that the batch may run in parts
     * (the loop's {@code Lanes}) and add up to the same. Yes by default; KTO's are not (its KL reference point
     * comes from the whole batch).
     */
    default boolean sumsOverExamples() {
        return true;
    }

    /**
     * Metrics computed from the logged averages of an interval (or of a held-out evaluation), added after them:
     * e.g. TRL's KTO logs {@code rewards/margins} as {@code rewards/chosen} − {@code rewards/rejected}, two means
     * over different examples. None by default.
     *
     * @param averages the interval's logged metrics by name (without the {@code eval_} prefix)
     */
    default Map<String, Double> derived(Map<String, Double> averages) {
        return Map.of();
    }

    /**
     * What one forward pass gives the loop.
     *
     * @param lossSum   0-dim loss summed over the batch; the loop divides by the summed weight
     * @param metrics   the batch's metrics, each saying how batches combine
     * @param numTokens tokens the batch fed the model (TRL's {@code num_tokens}, a running total), 0 when the
     *                  task does not count them
     */
    record Output(Tensor lossSum, List<Metric> metrics, long numTokens) {
        public Output(Tensor lossSum, List<Metric> metrics) {
            this(lossSum, metrics, 0);
        }
    }
}
