package dev.keel.train;

import java.util.List;

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
