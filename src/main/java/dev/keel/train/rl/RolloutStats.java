package dev.keel.train.rl;

/**
 * What is logged of one rollout, with TRL's metric names.
 *
 * @param kl                 mean over sequences of Σ_t kl_t ({@code objective/kl})
 * @param entropy            mean over sequences of −Σ_t log π_old(y_t) ({@code objective/entropy})
 * @param nonScoreReward     mean over sequences of −β Σ_t kl_t ({@code objective/non_score_reward})
 * @param scores             mean score ({@code objective/scores})
 * @param rlhfReward         mean of score − β Σ_t kl_t ({@code objective/rlhf_reward})
 * @param numEos             completions that ended with EOS ({@code val/num_eos_tokens})
 * @param meanResponseLength mean response tokens ({@code val/mean_response_length})
 * @param generateSeconds    wall time of sampling ({@code time/generate_s})
 */
public record RolloutStats(double kl, double entropy, double nonScoreReward, double scores, double rlhfReward,
                           int numEos, double meanResponseLength, double generateSeconds) {
    /**
     * These statistics of {@code rows} sequences (one rank's share) combined over the ranks into those of all
     * {@code allRows}: means weighted by rows, counts summed, the slowest rank's sampling time.
     */
    RolloutStats overRanks(dev.keel.dist.Distributed dist, int rows, int allRows) {
        if (dist.size() == 1) {
            return this;
        }
        double[] s = dist.sum(new double[] {kl * rows, entropy * rows, nonScoreReward * rows, scores * rows,
            rlhfReward * rows, numEos, meanResponseLength * rows});
        double slowest = dist.max(new double[] {generateSeconds})[0];
        return new RolloutStats(s[0] / allRows, s[1] / allRows, s[2] / allRows, s[3] / allRows, s[4] / allRows,
                (int) Math.round(s[5]), s[6] / allRows, slowest);
    }
}
