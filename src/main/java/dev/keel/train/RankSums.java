package dev.keel.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.keel.dist.Distributed;

/**
 * What forward passes add up to before a metrics line: the summed loss, the batches' {@link Metric}s and the
 * tokens fed. Each rank of a data-parallel run sums its own shards, then {@link #overRanks} combines them so
 * that every rank holds what one process would have summed over the whole global batches.
 */
final class RankSums {
    double loss;
    double tokens;
    final Map<String, Metric> metrics = new LinkedHashMap<>();

    /** Adds one forward pass over a shard. */
    void add(double shardLoss, Task.Output o) {
        loss += shardLoss;
        tokens += o.numTokens();
        o.metrics().forEach(e -> metrics.merge(e.name(), e, Metric::plus));
    }

    /**
     * Adds the metric names of a pass that stands in for an empty shard, each with the value that changes no
     * combination (0 for sums and counts, ±∞ for minima and maxima), so every rank reduces the same names.
     */
    void addNothing(Task.Output o) {
        o.metrics().forEach(e -> metrics.merge(e.name(), neutral(e), Metric::plus));
    }

    private static Metric neutral(Metric e) {
        return switch (e.how()) {
            case MEAN, RATIO -> new Metric(e.name(), 0, e.how(), 0);
            case MIN -> new Metric(e.name(), Double.POSITIVE_INFINITY, e.how(), 0);
            case MAX -> new Metric(e.name(), Double.NEGATIVE_INFINITY, e.how(), 0);
        };
    }

    /** These sums combined over all ranks: sums add up, minima and maxima over ranks (one rank: a copy). */
    RankSums overRanks(Distributed dist) {
        List<Metric> ms = new ArrayList<>(metrics.values());
        double[] sums = new double[2 + 2 * ms.size()];
        double[] mins = new double[ms.size()];
        double[] maxs = new double[ms.size()];
        sums[0] = loss;
        sums[1] = tokens;
        for (int i = 0; i < ms.size(); i++) {
            Metric m = ms.get(i);
            boolean additive = m.how() == Metric.Combine.MEAN || m.how() == Metric.Combine.RATIO;
            sums[2 + 2 * i] = additive ? m.value() : 0;
            sums[3 + 2 * i] = m.count();
            mins[i] = m.how() == Metric.Combine.MIN ? m.value() : Double.POSITIVE_INFINITY;
            maxs[i] = m.how() == Metric.Combine.MAX ? m.value() : Double.NEGATIVE_INFINITY;
        }
        double[] s = dist.sum(sums);
        boolean extremes = ms.stream().anyMatch(m -> m.how() == Metric.Combine.MIN || m.how() == Metric.Combine.MAX);
        double[] lo = extremes ? dist.min(mins) : mins;
        double[] hi = extremes ? dist.max(maxs) : maxs;
        RankSums out = new RankSums();
        out.loss = s[0];
        out.tokens = s[1];
        for (int i = 0; i < ms.size(); i++) {
            Metric m = ms.get(i);
            double v = switch (m.how()) {
                case MEAN, RATIO -> s[2 + 2 * i];
                case MIN -> lo[i];
                case MAX -> hi[i];
            };
            out.metrics.put(m.name(), new Metric(m.name(), v, m.how(), s[3 + 2 * i]));
        }
        return out;
    }
}
