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
