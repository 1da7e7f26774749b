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

    /**
     * Loss summed over the batch (a scalar with a graph when gradients are on), and metric sums: each
     * metric's value summed over the batch, to be divided by the summed weight; metrics named {@code min_*}
     * and {@code max_*} are the batch's extremes instead, combined by min and max.
     */
    Output forward(List<T> batch);

    /** Metrics that are not averages but totals over the run, e.g. {@code num_tokens}. */
    default Map<String, Double> totals(List<T> batch) {
        return Map.of();
    }

    record Output(Tensor lossSum, Map<String, Double> metricSums) {}
}
