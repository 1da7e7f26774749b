package dev.keel.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.ToDoubleFunction;

/**
 * The experiment over its seeds: each method's numbers as means with 95% intervals (Student's t over seeds),
 * the evaluations along each run averaged point by point, and the comparison of the two routes computed from
 * the intervals, never from the means alone.
 *
 * @param rows       one per method, in the order of the first seed
 * @param rmAccuracy the reward model's held-out accuracy over seeds
 * @param seeds      runs summarised
 */
public record Summary(List<Row> rows, Intervals.Mean rmAccuracy, int seeds) {
    /**
     * KL ranges (nats per completion) within which the two routes are compared: narrow enough that the best
     * points of a range sit at comparable KL (an open range from 3 let a run at KL 10.7 "beat" one at 3.7).
     */
    public static final double[] KL_EDGES = {0, 1, 3, 6, 10, Double.POSITIVE_INFINITY};

    /**
     * One method over the seeds.
     *
     * @param pairAccuracy DPO's implicit-reward accuracy on the reward model's held-out pairs (DPO family only)
     * @param path         the evaluations along the run, averaged over seeds point by point
     */
    public record Row(String name, Family family, String setting, Intervals.Mean gold, Intervals.Mean kl,
                      Intervals.Mean winRate, Intervals.Mean seconds, Optional<Intervals.Mean> pairAccuracy,
                      List<PathMean> path) {}

    /** One evaluation point along a run, over seeds. */
    public record PathMean(double fraction, Intervals.Mean kl, Intervals.Mean gold) {}

    /** What the intervals say within one KL range: "DPO ahead", "PPO ahead" or "not distinguishable". */
    public record Verdict(double klLow, double klHigh, String outcome, Optional<PathMean> bestDpo,
                          Optional<PathMean> bestPpo, String dpoName, String ppoName) {}

    public static Summary of(List<SentimentExperiment.Results> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to summarise");
        }
        Map<String, List<SentimentExperiment.MethodResult>> byName = new LinkedHashMap<>();
        for (SentimentExperiment.Results r : runs) {
            for (SentimentExperiment.MethodResult m : r.methods()) {
                byName.computeIfAbsent(m.name(), k -> new ArrayList<>()).add(m);
            }
        }
        List<Row> rows = new ArrayList<>();
        for (List<SentimentExperiment.MethodResult> ms : byName.values()) {
            SentimentExperiment.MethodResult first = ms.get(0);
            Optional<Intervals.Mean> pair = first.heldOutPairAccuracy().isPresent()
                    ? Optional.of(over(ms, m -> m.heldOutPairAccuracy().orElseThrow().value())) : Optional.empty();
            List<PathMean> path = new ArrayList<>();
            for (int i = 0; i < first.path().size(); i++) {
                int j = i;
                if (ms.stream().allMatch(m -> m.path().size() > j)) {
                    path.add(new PathMean(first.path().get(i).fraction(), over(ms, m -> m.path().get(j).kl()),
                            over(ms, m -> m.path().get(j).gold())));
                }
            }
            rows.add(new Row(first.name(), first.family(), first.setting(), over(ms, m -> m.eval().goldReward()),
                    over(ms, m -> m.eval().kl()), over(ms, m -> m.eval().winRate()), over(ms, m -> m.cost().seconds()),
                    pair, path));
        }
        double[] acc = runs.stream().mapToDouble(r -> r.rmHeldOutAccuracy().value()).toArray();
        return new Summary(rows, Intervals.mean(acc), runs.size());
    }

    private static Intervals.Mean over(List<SentimentExperiment.MethodResult> ms,
                                       ToDoubleFunction<SentimentExperiment.MethodResult> f) {
        return Intervals.mean(ms.stream().mapToDouble(f).toArray());
    }

    /**
     * The reward-free route (DPO, IPO) against PPO with the same learned information, per KL range: within a
     * range, each route's best evaluation point (by mean gold reward, over every point along its runs); one
     * route is ahead only when its interval lies wholly above the other's.
     */
    public List<Verdict> verdicts() {
        List<Verdict> out = new ArrayList<>();
        for (int r = 0; r + 1 < KL_EDGES.length; r++) {
            double lo = KL_EDGES[r];
            double hi = KL_EDGES[r + 1];
            Best dpo = best(lo, hi, true);
            Best ppo = best(lo, hi, false);
            String outcome;
            if (dpo.point.isEmpty() && ppo.point.isEmpty()) {
                outcome = "no method reached this KL";
            } else if (dpo.point.isEmpty() || ppo.point.isEmpty()) {
                outcome = "only " + (dpo.point.isEmpty() ? "PPO" : "DPO") + " reached this KL";
            } else if (dpo.point.get().gold().above(ppo.point.get().gold())) {
                outcome = "DPO ahead";
            } else if (ppo.point.get().gold().above(dpo.point.get().gold())) {
                outcome = "PPO ahead";
            } else {
                outcome = seeds < 2 ? "not distinguishable: one seed has no interval"
                        : "not distinguishable at this size";
            }
            out.add(new Verdict(lo, hi, outcome, dpo.point, ppo.point, dpo.name, ppo.name));
        }
        return out;
    }

    private record Best(Optional<PathMean> point, String name) {}

    private Best best(double lo, double hi, boolean dpoRoute) {
        PathMean best = null;
        String name = "";
        for (Row row : rows) {
            if (row.family().route() != (dpoRoute ? Family.Route.REWARD_FREE : Family.Route.REWARD_BASED)) {
                continue;
            }
            for (PathMean p : row.path()) {
                double kl = p.kl().mean();
                if (kl >= lo && kl < hi && (best == null || p.gold().mean() > best.gold().mean())) {
                    best = p;
                    name = row.name();
                }
            }
        }
        return new Best(Optional.ofNullable(best), name);
    }
}
