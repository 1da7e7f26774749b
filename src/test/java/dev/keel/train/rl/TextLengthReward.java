package dev.keel.train.rl;

import java.util.List;

import dev.keel.reward.RewardSource;

/** A test reward: a completion's length in characters, so two samples of a prompt score differently. */
final class TextLengthReward implements RewardSource {
    @Override
    public String name() {
        return "text length";
    }

    @Override
    public double[] score(List<String> prompts, List<String> completions) {
        return completions.stream().mapToDouble(String::length).toArray();
    }
}
