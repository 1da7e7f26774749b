package dev.keel.loss;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/** Log-probabilities of given tokens under next-token logits. */
public final class LogProbs {
    private LogProbs() {}

    /**
     * log softmax(logits)[label] per position, computed as logit[label] - logsumexp(logits) in float32
     * without materialising the full log-softmax.
     *
     * @param logits (..., V)
     * @param labels (...) int64
     * @return (...) float32
     */
    public static Tensor tokenLogProbs(Tensor logits, Tensor labels) {
        Tensor l32 = logits.to(ScalarType.Float);
        Tensor picked = torch.gather(l32, -1, labels.unsqueeze(-1)).squeeze(-1);
        return picked.sub(torch.logsumexp(l32, new long[] {-1}, false));
    }

    /** Per-sequence sums and counts of the tokens that count. */
    public record Sums(Tensor logProbs, Tensor counts) {}

    /**
     * log π(y|x) = Σ_t mask_t · log π(ids_t | ids_&lt;t), the sum over the tokens that count (docs/ALGORITHMS.md §0:
     * completion tokens only). The logits at position t predict token t + 1, so the first token never
     * counts.
     *
     * @param logits (B, T, V) from the model on {@code ids}
     * @param ids    (B, T) int64 input ids
     * @param mask   (B, T) 1 for tokens whose log-prob counts (e.g. completion tokens), 0 otherwise
     * @return sums (B) float32 and token counts (B) int64
     */
    public static Sums sequence(Tensor logits, Tensor ids, Tensor mask) {
        long t = ids.size(1);
        Tensor lp = tokenLogProbs(logits.narrow(1, 0, t - 1), ids.narrow(1, 1, t - 1));   // (B, T-1)
        Tensor m = mask.narrow(1, 1, t - 1);
        Tensor sums = Tensors.sum(lp.mul(m.to(ScalarType.Float)), 1, false);
        Tensor counts = Tensors.sum(m.to(ScalarType.Long), 1, false);
        return new Sums(sums, counts);
    }

    /**
     * Entropy of the next-token distribution at every position, H = −Σ_v p_v log p_v, computed from the logits
     * as logsumexp(z) − Σ_v softmax(z)_v · z_v (TRL's {@code entropy_from_logits}; docs/ALGORITHMS.md §4.5).
     *
     * @param logits (..., V)
     * @return (...) entropies in nats, in the logits' dtype
     */
    public static Tensor entropy(Tensor logits) {
        return torch.logsumexp(logits, new long[] {-1}, false)
                .sub(Tensors.sum(torch.softmax(logits, -1).mul(logits), -1, false));
    }
}
