package dev.keel.train;

import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Keel's {@code logits/chosen} and {@code logits/rejected}: the mean logit (over the vocabulary) at the positions
 * that predict completion tokens, per row, so that prompt length and padding do not move it (docs/ALGORITHMS.md
 * §3 (d)).
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
}
