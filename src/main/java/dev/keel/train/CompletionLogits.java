package dev.keel.train;

import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Keel's {@code logits/chosen} and {@code logits/rejected}: the mean logit (over the vocabulary) at the positions
 * that predict completion tokens, so that prompt length and padding do not move it (docs/ALGORITHMS.md §3, §3.1).
 */
final class CompletionLogits {
    private CompletionLogits() {}

    /**
     * @param logits (B, T, V) the model's logits
     * @param completionMask (B, T) 1 on completion tokens
     * @return (B) per-row mean logit over the completion positions, 0 for a row without one
     */
    static float[] rowMeans(Tensor logits, Tensor completionMask) {
        long t = logits.size(1);
        Tensor tokenMeans = logits.detach().narrow(1, 0, t - 1).to(ScalarType.Float)
                .mean(new long[] {-1}, false, new ScalarTypeOptional());               // (B, T-1)
        Tensor mask = completionMask.narrow(1, 1, t - 1).to(ScalarType.Float);       // (B, T-1)
        float[] sums = Tensors.toFloats(Tensors.sum(tokenMeans.mul(mask), 1, false));
        float[] counts = Tensors.toFloats(Tensors.sum(mask, 1, false));
        float[] out = new float[sums.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = counts[i] > 0 ? sums[i] / counts[i] : 0f;
        }
        return out;
    }

    /**
     * The mean logit over every completion position of the first {@code n} rows (chosen) and of the last {@code n}
     * (rejected) of a pair batch, each position counting once: DPO's, ORPO's and CPO's {@code logits/*}.
     *
     * @param logits         (2B, T, V) the model's logits, chosen rows first
     * @param completionMask (2B, T) 1 on completion tokens
     * @return {chosen mean, rejected mean}
     */
    static double[] halfMeans(Tensor logits, Tensor completionMask, long n) {
        long t = logits.size(1);
        Tensor tokenMeans = logits.detach().narrow(1, 0, t - 1).to(ScalarType.Float)
                .mean(new long[] {-1}, false, new ScalarTypeOptional());               // (2B, T-1)
        Tensor mask = completionMask.narrow(1, 1, t - 1).to(ScalarType.Float);       // (2B, T-1)
        Tensor masked = tokenMeans.mul(mask);
        double chosen = Tensors.item(masked.narrow(0, 0, n).sum()) / Math.max(1, Tensors.item(mask.narrow(0, 0, n).sum()));
        double rejected = Tensors.item(masked.narrow(0, n, n).sum()) / Math.max(1, Tensors.item(mask.narrow(0, n, n).sum()));
        return new double[] {chosen, rejected};
    }
}
