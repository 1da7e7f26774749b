package dev.keel.train;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.data.Collator;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * A forward pass that computes the output head only at the columns a completion loss reads: from the column that
 * predicts the batch's earliest counted token to the end (TRL's {@code logits_to_keep}). The prompt columns still
 * run through every block (the completion attends to them); only their vocabulary projection, its log-softmax and
 * their gradients, which the loss never reads, are skipped. Sums over the kept columns equal those over all of
 * them.
 *
 * @param logits (B, T - from, V) the logits of columns from .. T - 1
 * @param ids    (B, T - from) the input ids of the same columns
 * @param mask   (B, T - from) the counted-token mask of the same columns (its first column is 0 or not read)
 */
public record CompletionForward(Tensor logits, Tensor ids, Tensor mask) {
    /** The model's logits of {@code b} where its completion mask is read. */
    public static CompletionForward of(CausalLM model, Collator.Batch b) {
        return of(model, b.inputIds(), b.keep(), b.completionMask());
    }

    /**
     * @param ids  (B, T) input ids
     * @param keep (B, T) 1 for real tokens
     * @param mask (B, T) 1 for the tokens whose log-probs count
     */
    public static CompletionForward of(CausalLM model, Tensor ids, Tensor keep, Tensor mask) {
        long from = firstColumn(mask);
        long t = ids.size(1);
        return new CompletionForward(model.forward(ids, keep, from), ids.narrow(1, from, t - from),
                mask.narrow(1, from, t - from));
    }

    /**
     * The column whose logits predict the earliest counted token of any row (one before that token), or 0 when no
     * token counts or the earliest is at column 0 (which is never predicted).
     *
     * @param mask (B, T) 1 for counted tokens
     */
    public static long firstColumn(Tensor mask) {
        Tensor anyRow = Tensors.sum(mask.ne(Tensors.s(0L)).to(ScalarType.Long), 0, false);  // (T) rows counting there
        long t = anyRow.size(0);
        long[] counts = Tensors.toLongs(anyRow);
        for (int c = 0; c < t; c++) {
            if (counts[c] > 0) {
                return Math.max(0, c - 1);
            }
        }
        return 0;
    }

    /** The summed counted log-probs and counts per row ({@link LogProbs#sequence}). */
    public LogProbs.Sums sums() {
        return LogProbs.sequence(logits, ids, mask);
    }
}
