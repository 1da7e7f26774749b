package dev.keel.reward;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

import dev.keel.KeelException;
import dev.keel.model.io.DType;

/** Opens a reward source from its name: {@code builtin:NAME} or a reward-model folder. */
public final class Rewards {
    private static final Map<String, Supplier<RewardSource>> BUILTIN = new TreeMap<>();

    static {
        // the demo's gold reward: VADER's compound score of the review (prompt + completion)
        register("sentiment", SentimentReward::new);
    }

    private Rewards() {}

    /**
     * Opens each of {@code specs}; one source with weight 1 is returned as it is, several as their weighted sum
     * ({@link WeightedRewards}). {@code weights} may be null: every weight 1, as TRL's default.
     */
    public static RewardSource open(java.util.List<String> specs, java.util.List<Double> weights, int batchSize) {
        if (specs.isEmpty()) {
            throw new IllegalArgumentException("--reward is required");
        }
        if (weights != null && weights.size() != specs.size()) {
            throw new IllegalArgumentException("--reward-weights needs one weight per --reward: " + specs.size()
                    + " rewards, " + weights.size() + " weights");
        }
        if (weights != null && weights.stream().anyMatch(w -> !Double.isFinite(w))) {
            throw new IllegalArgumentException("--reward-weights must be finite numbers, got " + weights);
        }
        if (specs.size() == 1 && (weights == null || weights.get(0) == 1.0)) {
            return open(specs.get(0), batchSize);
        }
        java.util.List<RewardSource> sources = new java.util.ArrayList<>();
        try {
            for (String s : specs) {
                sources.add(open(s, batchSize));
            }
        } catch (RuntimeException e) {
            sources.forEach(RewardSource::close);
            throw e;
        }
        double[] w = new double[specs.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = weights == null ? 1.0 : weights.get(i);
        }
        return new WeightedRewards(sources, w);
    }

    /** Makes {@code builtin:name} available to every command. */
    public static synchronized void register(String name, Supplier<RewardSource> factory) {
        BUILTIN.put(name, factory);
    }

    public static synchronized RewardSource open(String spec, int batchSize) {
        if (spec.startsWith("builtin:count:")) {
            return new CountReward(spec.substring("builtin:count:".length()));
        }
        if (spec.startsWith("builtin:")) {
            String name = spec.substring("builtin:".length());
            Supplier<RewardSource> f = BUILTIN.get(name);
            if (f == null) {
                throw new KeelException("unknown reward '" + spec + "' (built-in: builtin:count:WORD"
                        + (BUILTIN.isEmpty() ? "" : ", builtin:" + String.join(", builtin:", BUILTIN.keySet())) + ")");
            }
            return f.get();
        }
        return new ModelReward(Path.of(spec), DType.F32, batchSize);
    }
}
