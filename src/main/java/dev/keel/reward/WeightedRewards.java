package dev.keel.reward;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import dev.keel.tokenizer.Tokenizer;

/**
 * Several reward sources as one: Σ_j w_j · r_j(prompt, completion), as TRL's GRPO and RLOO trainers combine their
 * {@code reward_funcs} with {@code reward_weights} ({@code (rewards_per_func * reward_weights).nansum(dim=1)}).
 * Keel's sources always return a number, so there is nothing for the NaN-skipping sum to skip.
 */
public final class WeightedRewards implements RewardSource {
    private final List<RewardSource> sources;
    private final double[] weights;

    /**
     * @param sources at least one
     * @param weights one finite weight per source
     */
    public WeightedRewards(List<RewardSource> sources, double[] weights) {
        if (sources.isEmpty() || weights.length != sources.size()) {
            throw new IllegalArgumentException("--reward-weights needs one weight per --reward: " + sources.size()
                    + " rewards, " + weights.length + " weights");
        }
        for (double w : weights) {
            if (!Double.isFinite(w)) {
                throw new IllegalArgumentException("--reward-weights must be finite numbers, got " + w);
            }
        }
        this.sources = List.copyOf(sources);
        this.weights = weights.clone();
    }

    @Override
    public String name() {
        List<String> parts = new ArrayList<>();
        for (int j = 0; j < sources.size(); j++) {
            parts.add(String.format(Locale.ROOT, "%s*%s", weights[j], sources.get(j).name()));
        }
        return String.join(" + ", parts);
    }

    @Override
    public double[] score(List<String> prompts, List<String> completions) {
        return score(prompts, completions, null);
    }

    @Override
    public double[] score(List<String> prompts, List<String> completions, boolean[] ended) {
        double[] total = new double[prompts.size()];
        for (int j = 0; j < sources.size(); j++) {
            double[] s = ended == null ? sources.get(j).score(prompts, completions)
                    : sources.get(j).score(prompts, completions, ended);
            for (int i = 0; i < total.length; i++) {
                total[i] += weights[j] * s[i];
            }
        }
        return total;
    }

    /** Present only when every source scores ids of {@code tok} directly; otherwise all of them read text. */
    @Override
    public Optional<IdsScorer> ids(Tokenizer tok) {
        List<IdsScorer> scorers = new ArrayList<>();
        for (RewardSource s : sources) {
            Optional<IdsScorer> o = s.ids(tok);
            if (o.isEmpty()) {
                return Optional.empty();
            }
            scorers.add(o.get());
        }
        return Optional.of((prompts, completions) -> {
            double[] total = new double[prompts.size()];
            for (int j = 0; j < scorers.size(); j++) {
                double[] s = scorers.get(j).score(prompts, completions);
                for (int i = 0; i < total.length; i++) {
                    total[i] += weights[j] * s[i];
                }
            }
            return total;
        });
    }

    @Override
    public void close() {
        for (RewardSource s : sources) {
            s.close();
        }
    }
}
