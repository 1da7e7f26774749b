package dev.keel.train;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

import dev.keel.data.Collator;
import dev.keel.data.ScoringRecord;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * Scores completions under a model in padded batches: records are sorted by length so each batch holds
 * rows of similar length (little padding), and results come back in input order.
 */
public final class SequenceScorer {
    private SequenceScorer() {}

    /** The summed completion log-probability of one record and how many tokens it covers. */
    public record Score(double logProb, long numTokens) {}

    public static List<Score> score(CausalLM model, List<ScoringRecord> records, int batchSize, long padId) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        Integer[] order = new Integer[records.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, Comparator.comparingInt(i -> records.get(i).length()));
        Score[] out = new Score[records.size()];
        for (int start = 0; start < order.length; start += batchSize) {
            int end = Math.min(order.length, start + batchSize);
            List<long[]> prompts = new ArrayList<>();
            List<long[]> completions = new ArrayList<>();
            for (int i = start; i < end; i++) {
                prompts.add(records.get(order[i]).promptIds());
                completions.add(records.get(order[i]).completionIds());
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                Collator.Batch b = Collator.rightPad(prompts, completions, padId, model.device());
                LogProbs.Sums s = CompletionForward.of(model, b).sums();
                float[] lp = Tensors.toFloats(s.logProbs());
                long[] n = Tensors.toLongs(s.counts());
                for (int i = start; i < end; i++) {
                    out[order[i]] = new Score(lp[i - start], n[i - start]);
                }
            }
        }
        return List.of(out);
    }
}
