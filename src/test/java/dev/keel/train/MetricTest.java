package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class MetricTest {
    @Test
    void sumsAddAndAverageOverTheSummedWeight() {
        // batches of 2 and 3 pairs with 1 and 2 correct: (1 + 2) / (2 + 3) = 0.6
        Metric m = Metric.sum("rewards/accuracies", 1).plus(Metric.sum("rewards/accuracies", 2));
        assertEquals(0.6, m.average(5), 1e-12);
    }

    @Test
    void extremesCombineByMinAndMaxAndAreNotAveraged() {
        assertEquals(-3, Metric.min("min_reward", -1).plus(Metric.min("min_reward", -3)).average(10));
        assertEquals(7, Metric.max("max_reward", 7).plus(Metric.max("max_reward", 2)).average(10));
    }

    @Test
    void ratiosDivideTheSummedValueByTheSummedCountNotByTheWeight() {
        // KTO rewards/chosen: batch 1 has 2 desirable examples with rewards summing to 0.3, batch 2 has 1 with 0.6:
        // (0.3 + 0.6) / (2 + 1) = 0.3, whatever the batches' weight (8 examples in all)
        Metric m = Metric.ratio("rewards/chosen", 0.3, 2).plus(Metric.ratio("rewards/chosen", 0.6, 1));
        assertEquals(0.3, m.average(8), 1e-12);
        assertEquals(3, m.count());
    }

    @Test
    void aRatioOverNoExamplesIsNaN() {
        assertEquals(Double.NaN, Metric.ratio("rewards/chosen", 0, 0).average(8));
    }

    @Test
    void aCheckpointKeepsARatiosCountSoAResumedIntervalLogsTheSameMean() {
        // an interval cut by a checkpoint: 2 desirable examples summing 0.3 before it, 1 with 0.6 after it ⇒ 0.9 / 3
        Position p = new Position();
        p.intervalMetrics.put("rewards/chosen", Metric.ratio("rewards/chosen", 0.3, 2));
        p.intervalMetrics.put("kl", Metric.sum("kl", 1.5));
        Position back = Position.fromJson(p.toJson(42));
        Metric m = back.intervalMetrics.get("rewards/chosen").plus(Metric.ratio("rewards/chosen", 0.6, 1));
        assertEquals(0.3, m.average(8), 1e-12);
        assertEquals(Metric.Combine.MEAN, back.intervalMetrics.get("kl").how());
        assertEquals(1.5, back.intervalMetrics.get("kl").value(), 0);
    }
}
