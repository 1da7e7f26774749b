package dev.keel.loss;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Next-token cross-entropy over the tokens that count (docs/ALGORITHMS.md §1): all tokens for plain text and
 * pretraining, completion or assistant tokens only where the data has a prompt (TRL's
 * {@code completion_only_loss}, {@code assistant_only_loss}).
 */
public final class LmLoss {
    private LmLoss() {}

    /**
     * @param lossSum  Σ over counted tokens of −log p(token | earlier tokens), a scalar with a graph
     * @param count    number of counted tokens (scalar, int64)
     * @param correct  counted tokens whose argmax prediction was right (scalar, int64)
     */
    public record Sums(Tensor lossSum, Tensor count, Tensor correct) {}

    /**
     * Summed (not averaged) loss so that the caller can average over every token of an accumulated batch.
     * Position t of the logits predicts token t + 1, so {@code mask[t + 1]} decides whether that prediction
     * counts; {@code mask[0]} never matters.
     *
     * @param logits (B, T, V)
     * @param ids    (B, T) int64
     * @param mask   (B, T) 1 where the token is one to learn
     */
    public static Sums sums(Tensor logits, Tensor ids, Tensor mask) {
        long t = ids.size(1);
        Tensor pred = logits.narrow(1, 0, t - 1);
        Tensor target = ids.narrow(1, 1, t - 1);
        Tensor m = mask.narrow(1, 1, t - 1).to(ScalarType.Float);
        Tensor lp = LogProbs.tokenLogProbs(pred, target);                            // (B, T-1)
        Tensor lossSum = lp.mul(m).sum().neg();
        Tensor hit = pred.detach().argmax(new LongOptional(-1), false).eq(target).to(ScalarType.Float).mul(m);
        return new Sums(lossSum, m.sum(new ScalarTypeOptional(ScalarType.Long)), hit.sum(new ScalarTypeOptional(ScalarType.Long)));
    }

    /** The mean loss over counted tokens: {@code lossSum / max(count, 1)}. */
    public static Tensor mean(Sums s) {
        return s.lossSum().div(s.count().clamp_min(s(1L)).to(ScalarType.Float));
    }
}
