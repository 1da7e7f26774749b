package dev.keel.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One metric of a batch and how batches combine into a logged value.
 *
 * @param name  the logged name (TRL's, e.g. {@code rewards/accuracies})
 * @param value for {@link Combine#MEAN} the value summed over the batch's examples; for MIN and MAX the batch's
 *              extreme
 * @param how   how values of several batches combine
 */
public record Metric(String name, double value, Combine how) {
    /** MEAN: sums add up and are divided by the summed weight; MIN and MAX: the extreme over the batches. */
    public enum Combine { MEAN, MIN, MAX }

    public static Metric sum(String name, double value) {
        return new Metric(name, value, Combine.MEAN);
    }

    public static Metric min(String name, double value) {
        return new Metric(name, value, Combine.MIN);
    }

    public static Metric max(String name, double value) {
        return new Metric(name, value, Combine.MAX);
    }

    /** Sums per example of every entry of {@code sums}, in its order. */
    public static List<Metric> sums(Map<String, Double> sums) {
        List<Metric> out = new ArrayList<>();
        sums.forEach((k, v) -> out.add(sum(k, v)));
        return out;
    }

    /** This metric and {@code o} (same name) combined. */
    public Metric plus(Metric o) {
        double v = switch (how) {
            case MEAN -> value + o.value;
            case MIN -> Math.min(value, o.value);
            case MAX -> Math.max(value, o.value);
        };
        return new Metric(name, v, how);
    }

    /** The logged value over batches of summed {@code weight}. */
    public double average(double weight) {
        return how == Combine.MEAN ? value / weight : value;
    }
}
