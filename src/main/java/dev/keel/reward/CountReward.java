package dev.keel.reward;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test scorer with an easy-to-find optimum: +1 per occurrence of a word in the completion (whole word,
 * case-insensitive). {@code builtin:count:WORD}.
 */
public final class CountReward implements RewardSource {
    private final String word;
    private final Pattern pattern;

    public CountReward(String word) {
        if (word.isBlank()) {
            throw new IllegalArgumentException("builtin:count needs a word, e.g. builtin:count:great");
        }
        this.word = word;
        this.pattern = Pattern.compile("\\b" + Pattern.quote(word.toLowerCase(Locale.ROOT)) + "\\b");
    }

    @Override
    public String name() {
        return "builtin:count:" + word;
    }

    @Override
    public double[] score(List<String> prompts, List<String> completions) {
        double[] out = new double[completions.size()];
        for (int i = 0; i < out.length; i++) {
            Matcher m = pattern.matcher(completions.get(i).toLowerCase(Locale.ROOT));
            while (m.find()) {
                out[i]++;
            }
        }
        return out;
    }
}
