package dev.keel.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.io.ModelConfig.RopeScaling;
import dev.keel.tensor.Tensors;

/**
 * Rotary position embeddings (Su et al. 2021, "RoFormer", Eq. 34) in the "rotate half" layout that
 * transformers' Llama code uses: the first and second halves of each head are the two coordinates of a
 * pair, not adjacent elements. Follows {@code modeling_rope_utils.py} and {@code apply_rotary_pos_emb}.
 */
public final class RotaryEmbedding {
    private final Tensor invFreq; // (head_dim / 2,) float32

    public RotaryEmbedding(int headDim, double theta, RopeScaling scaling) {
        double[] f = inverseFrequencies(headDim, theta, scaling);
        float[] ff = new float[f.length];
        for (int i = 0; i < f.length; i++) {
            ff[i] = (float) f[i];
        }
        this.invFreq = Tensors.floats(ff, ff.length);
    }

    /**
     * inv_freq_i = 1 / theta^(2i / d) for i in [0, d/2), then scaled:
     * <ul>
     * <li>linear: inv_freq / factor (position interpolation, Chen et al. 2023);
     * <li>llama3 (Meta's Llama 3.1 code, transformers' {@code _compute_llama3_parameters}): with
     *     wavelength λ = 2π / inv_freq, L = original_max_position_embeddings: λ &gt; L / low_freq_factor
     *     gives inv_freq / factor; λ &lt; L / high_freq_factor keeps inv_freq; in between, the mix
     *     (1 - s) inv_freq / factor + s inv_freq with s = (L / λ - low) / (high - low).
     * </ul>
     */
    public static double[] inverseFrequencies(int headDim, double theta, RopeScaling scaling) {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (scaling == null) {
            return inv;
        }
        switch (scaling.type()) {
            case "linear":
                for (int i = 0; i < half; i++) {
                    inv[i] /= scaling.factor();
                }
                return inv;
            case "llama3": {
                double factor = scaling.factor();
                double low = scaling.lowFreqFactor();
                double high = scaling.highFreqFactor();
                double oldLen = scaling.originalMaxPositions();
                double lowFreqWavelen = oldLen / low;
                double highFreqWavelen = oldLen / high;
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowFreqWavelen) {
                        inv[i] = inv[i] / factor;
                    } else if (wavelen >= highFreqWavelen) {
                        double smooth = (oldLen / wavelen - low) / (high - low);
                        inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                    }
                }
                return inv;
            }
            default:
                throw new IllegalArgumentException("unsupported rope scaling " + scaling.type());
        }
    }

    /**
     * cos and sin of position x frequency, each (B, 1, T, head_dim) in {@code dtype}, for position ids (B, T).
     * Computed in float32 like transformers, then cast. The sine comes with the sign of rotate_half folded in:
     * its first half is negated (see {@link #apply}).
     */
    public Tensor[] cosSin(Tensor positionIds, ScalarType dtype) {
        Tensor inv = invFreq.to(positionIds.device(), ScalarType.Float);
        Tensor freqs = positionIds.to(ScalarType.Float).unsqueeze(-1).mul(inv);      // (B, T, d/2)
        Tensor emb = torch.cat(new TensorVector(freqs, freqs), -1).unsqueeze(1);    // (B, 1, T, d)
        Tensor sin = emb.sin();
        long half = sin.size(-1) / 2;
        sin.narrow(-1, 0, half).neg_();
        return new Tensor[] {emb.cos().to(dtype), sin.to(dtype)};
    }

    /**
     * x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x2, x1) over the last dimension. With the sign
     * already in {@code signedSin} (from {@link #cosSin}), rotate_half(x) * sin = roll(x, d/2) * signedSin: three
     * kernels (mul, roll, addcmul) instead of seven, which matters when decoding one token at a time.
     */
    public static Tensor apply(Tensor x, Tensor cos, Tensor signedSin) {
        long half = x.size(-1) / 2;
        Tensor rolled = torch.roll(x, new long[] {half}, new long[] {-1});
        return torch.addcmul(x.mul(cos), rolled, signedSin);
    }
}
