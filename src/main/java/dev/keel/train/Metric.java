package dev.keel.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One metric of a batch and how batches combine into a logged value.
 *
 * @param name  the logged name (TRL's, e.g. {@code rewards/accuracies})
 * @param value for {@link Combine#MEAN} and {@link Combine#RATIO} the value summed over the batch's examples; for
 *              MIN and MAX the batch's extreme
 * @param how   how values of several batches combine
 * @param count for {@link Combine#RATIO} how many examples {@code value} sums over (e.g. the desirable examples
 *              of a KTO batch); 0 for the other kinds
 */
public record Metric(String name, double value, Combine how, double count) {
    /**
     * MEAN: sums add up and are divided by the summed weight of the batches; RATIO: sums and counts add up and the
     * sum is divided by the count (a mean over a subset of the examples, e.g. TRL's KTO {@code rewards/chosen});
     * MIN and MAX: the extreme over the batches.
     */
    public enum Combine { MEAN, RATIO, MIN, MAX }

    public Metric(String name, double value, Combine how) {
        this(name, value, how, 0);
    }

    public static Metric sum(String name, double value) {
        return new Metric(name, value, Combine.MEAN);
    }

    /** A sum over {@code count} examples, logged as sum / count over the batches it combines with. */
    public static Metric ratio(String name, double sum, double count) {
        return new Metric(name, sum, Combine.RATIO, count);
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
            case MEAN, RATIO -> value + o.value;
            case MIN -> Math.min(value, o.value);
            case MAX -> Math.max(value, o.value);
        };
        return new Metric(name, v, how, count + o.count);
    }

    /**
     * The logged value over batches of summed {@code weight}; NaN for a RATIO over no examples (a KTO interval
     * without one desirable example has no {@code rewards/chosen}; the loop leaves such a value out).
     */
    public double average(double weight) {
        return switch (how) {
            case MEAN -> value / weight;
            case RATIO -> count > 0 ? value / count : Double.NaN;
            case MIN, MAX -> value;
        };
    }
}
