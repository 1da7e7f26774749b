package dev.keel.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How the experiment turns k gold-scored samples per prompt into preference pairs (docs/ALGORITHMS.md §6): the
 * samples ranked by gold reward, the best paired with the worst, the second best with the second worst, and so
 * on; a pair whose gold rewards differ by less than the margin is a tie, not a preference, and is left out (as
 * is a pair with an empty completion).
 */
public final class PairLabels {
    private PairLabels() {}

    /**
     * @param pairs (chosen index, rejected index) into the samples, prompt by prompt
     * @param ties  pairs left out because their gold rewards were within the margin
     */
    public record Picked(List<int[]> pairs, int ties) {}

    /**
     * @param gold      gold reward of every sample, prompt-major: the k samples of prompt 0, then prompt 1's, ...
     * @param tokens    the samples' token ids, same layout (an empty one is never paired)
     * @param k         samples per prompt
     * @param minMargin the least gold difference that counts as a preference; an exact tie never does
     */
    public static Picked pick(double[] gold, List<long[]> tokens, int k, double minMargin) {
        if (k < 2 || gold.length % k != 0 || tokens.size() != gold.length) {
            throw new IllegalArgumentException("need k >= 2 samples per prompt and one gold score per sample, got k = "
                    + k + ", " + gold.length + " scores, " + tokens.size() + " samples");
        }
        List<int[]> out = new ArrayList<>();
        int ties = 0;
        for (int p = 0; p < gold.length / k; p++) {
            Integer[] order = new Integer[k];
            for (int j = 0; j < k; j++) {
                order[j] = p * k + j;
            }
            Arrays.sort(order, (a, b) -> Double.compare(gold[b], gold[a]));
            for (int j = 0; j < k / 2; j++) {
                int best = order[j];
                int worst = order[k - 1 - j];
                if (tokens.get(best).length == 0 || tokens.get(worst).length == 0) {
                    continue;
                }
                double d = gold[best] - gold[worst];
                if (d > 0 && d >= minMargin) {
                    out.add(new int[] {best, worst});
                } else {
                    ties++;
                }
            }
        }
        return new Picked(out, ties);
    }
}
