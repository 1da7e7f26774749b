package dev.keel.reward;

import java.util.List;

/**
 * The gold reward of the sentiment demo ({@code builtin:sentiment}): the VADER compound score, in [−1, 1], of
 * the review text (see {@link Vader}).
 *
 * <p>By default the prompt and the completion are scored together, as one review. In the DPO paper's controlled
 * sentiment generation (Rafailov et al. 2023, §6.1) the prompt x is the prefix of an IMDb review and pairs are
 * ranked by the classifier's p(positive | x, y), the whole review; the PPO sentiment examples it follows (TRL's
 * gpt2-sentiment) score {@code query + response} as well. The completion is the decoded continuation, so the
 * two strings are joined without a separator, as they were generated. {@code new SentimentReward(false)} scores
 * the completion alone: it drops the prompt's fixed share of the score, but also the context that VADER's
 * three-word window reads across the join (after the prompt "This film is not", the completion " good at all"
 * is negative as a review and positive alone).
 */
public final class SentimentReward implements RewardSource {
    private final Vader vader;
    private final boolean includePrompt;

    /** Scores prompt + completion, the full review text. */
    public SentimentReward() {
        this(true);
    }

    public SentimentReward(boolean includePrompt) {
        this.vader = Vader.load();
        this.includePrompt = includePrompt;
    }

    @Override
    public String name() {
        return "builtin:sentiment";
    }

    @Override
    public double[] score(List<String> prompts, List<String> completions) {
        if (includePrompt && prompts.size() != completions.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts for " + completions.size() + " completions");
        }
        double[] out = new double[completions.size()];
        for (int i = 0; i < out.length; i++) {
            String text = includePrompt ? prompts.get(i) + completions.get(i) : completions.get(i);
            out[i] = vader.polarity(text).compound();
        }
        return out;
    }
}
