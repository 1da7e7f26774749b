package dev.keel.train;

import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Where a run of the {@link TrainingLoop} stands: what a checkpoint records besides tensors. */
final class Position {
    long step;
    int epoch;
    int batchInEpoch;
    double numTokens;
    // what the next metrics line averages over: steps since the last line (a checkpoint between two lines
    // keeps them, so a resumed run logs the same numbers as an uninterrupted one)
    double intervalLoss;
    double intervalWeight;
    Map<String, Metric> intervalMetrics = new LinkedHashMap<>();

    /** Adds one optimizer step's sums (over all ranks). */
    void add(RankSums s) {
        intervalLoss += s.loss;
        s.metrics.values().forEach(e -> intervalMetrics.merge(e.name(), e, Metric::plus));
        numTokens += s.tokens;
    }

    void startInterval() {
        intervalLoss = 0;
        intervalWeight = 0;
        intervalMetrics.clear();
    }

    ObjectNode toJson(long seed) {
        ObjectNode s = new ObjectMapper().createObjectNode();
        s.put("global_step", step);
        s.put("epoch", epoch);
        s.put("batch_in_epoch", batchInEpoch);
        s.put("num_tokens", numTokens);
        s.put("seed", seed);
        s.put("interval_loss", intervalLoss);
        s.put("interval_weight", intervalWeight);
        ObjectNode sums = s.putObject("interval_sums");
        ObjectNode how = s.putObject("interval_combine");
        ObjectNode counts = s.putObject("interval_counts");
        intervalMetrics.values().forEach(m -> {
            sums.put(m.name(), m.value());
            how.put(m.name(), m.how().name());
            counts.put(m.name(), m.count());
        });
        return s;
    }

    static Position fromJson(JsonNode s) {
        Position p = new Position();
        p.step = s.path("global_step").asLong();
        p.epoch = s.path("epoch").asInt();
        p.batchInEpoch = s.path("batch_in_epoch").asInt();
        p.numTokens = s.path("num_tokens").asDouble();
        p.intervalLoss = s.path("interval_loss").asDouble();
        p.intervalWeight = s.path("interval_weight").asDouble();
        JsonNode how = s.path("interval_combine");
        JsonNode counts = s.path("interval_counts");
        s.path("interval_sums").fields().forEachRemaining(e -> p.intervalMetrics.put(e.getKey(),
                new Metric(e.getKey(), e.getValue().asDouble(),
                        Metric.Combine.valueOf(how.path(e.getKey()).asText("MEAN")),
                        counts.path(e.getKey()).asDouble(0))));
        return p;
    }
}
