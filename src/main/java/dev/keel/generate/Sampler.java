package dev.keel.generate;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.tensor.Tensors;

/**
 * Picks next tokens from logits, in transformers' order of logits warpers: temperature, then top-k, then
 * top-p.
 */
public final class Sampler {
    private Sampler() {}

    /**
     * Logits with every token outside the top k and outside the nucleus set to -inf (both on the
     * temperature-scaled logits).
     *
     * <p>Top-p follows transformers' {@code TopPLogitsWarper}: a token is kept when the probability of the
     * tokens ranked strictly above it is below p, so the most likely token always stays.
     *
     * @param logits (B, V) float32, already divided by the temperature
     */
    public static Tensor filter(Tensor logits, int topK, double topP) {
        boolean useK = topK > 0 && topK < logits.size(-1);
        boolean useP = topP < 1.0;
        if (!useK && !useP) {
            return logits;
        }
        T_TensorTensor_T sorted = torch.sort(logits, -1, true);
        Tensor values = sorted.get0();                                  // (B, V) descending
        Tensor indices = sorted.get1();
        Tensor removeSorted = torch.zeros_like(values).to(ScalarType.Bool);
        if (useK) {
            Tensor rank = torch.arange(s(logits.size(-1)), Tensors.options(ScalarType.Long, logits.device())).view(1, -1);
            removeSorted = removeSorted.logical_or(rank.ge(s((long) topK)));
            values = values.masked_fill(removeSorted, s(Double.NEGATIVE_INFINITY));
        }
        if (useP) {
            Tensor probs = torch.softmax(values, -1);
            Tensor before = probs.cumsum(-1).sub(probs);               // mass ranked strictly above
            removeSorted = removeSorted.logical_or(before.ge(s(topP)));
        }
        Tensor remove = torch.zeros_like(removeSorted).scatter(-1, indices, removeSorted);
        return logits.masked_fill(remove, s(Double.NEGATIVE_INFINITY));
    }

    /**
     * Next token per row: argmax when {@code cfg} is greedy, else a draw from softmax(filter(logits / T)).
     *
     * @param logits (B, V)
     * @return (B) int64
     */
    public static Tensor next(Tensor logits, SamplingConfig cfg, Generator rng) {
        return next(logits, cfg, rows -> uniform(rows, rng, logits.device()));
    }

    /**
     * As {@link #next(Tensor, SamplingConfig, Generator)} with the uniform draws given: {@code u} (B, 1) float64 in
     * [0, 1), one per row (from a generator of each row's own, so a row samples the same whatever batch it is in).
     */
    public static Tensor next(Tensor logits, SamplingConfig cfg, Tensor u) {
        return next(logits, cfg, rows -> u);
    }

    private static Tensor next(Tensor logits, SamplingConfig cfg, java.util.function.LongFunction<Tensor> uniforms) {
        if (cfg.isGreedy()) {
            long[] picked = dev.keel.model.Argmax.rows(logits);       // in C where it applies: libtorch's is slow
            return picked != null ? Tensors.longs(picked, logits.device())
                    : logits.to(ScalarType.Float).argmax(new LongOptional(-1), false);
        }
        Tensor l32 = logits.to(ScalarType.Float);
        Tensor scaled = filter(l32.div(s(cfg.temperature())), cfg.topK(), cfg.topP());
        return draw(torch.softmax(scaled, -1), uniforms.apply(l32.size(0)));
    }

    private static Tensor uniform(long rows, Generator rng, org.bytedeco.pytorch.Device device) {
        return torch.rand(new long[] {rows, 1}, new GeneratorOptional(rng), Tensors.options(ScalarType.Double, device));
    }

    /**
     * One index per row of {@code probs} (B, V), drawn with probability probs[i] / sum(probs): by inverting the
     * cumulative distribution, the number of entries whose running sum (in float64) is below u·total for
     * u uniform in (0, 1]. An entry of probability 0 is never drawn. Same distribution as
     * {@code torch.multinomial(probs, 1)}, whose exponential-race kernel measured 1.6 ms against 0.26 ms for
     * a (16, 4,096) batch here: a third of a sampled decoding step.
     *
     * @return (B) int64
     */
    public static Tensor draw(Tensor probs, Generator rng) {
        return draw(probs, uniform(probs.size(0), rng, probs.device()));
    }

    /** As {@link #draw(Tensor, Generator)} with the uniforms given: {@code u} (B, 1) float64 in [0, 1). */
    public static Tensor draw(Tensor probs, Tensor u) {
        Tensor cdf = probs.to(ScalarType.Double).cumsum(-1);                          // (B, V)
        Tensor total = cdf.narrow(-1, cdf.size(-1) - 1, 1);                             // (B, 1)
        Tensor target = torch.ones_like(u).sub(u).mul(total);                           // in (0, total]
        return Tensors.sum(cdf.lt(target), -1, false, ScalarType.Long);
    }

    /**
     * log softmax(logits / T)[token]: the log-probability of each picked token under the model at the
     * sampling temperature, before top-k/top-p filtering (what PPO's ratio needs; TRL scores rollouts the
     * same way). Greedy decoding reports T = 1.
     */
    public static Tensor logProbs(Tensor logits, Tensor tokens, double temperature) {
        Tensor l32 = logits.to(ScalarType.Float);
        if (temperature > 0 && temperature != 1.0) {
            l32 = l32.div(s(temperature));
        }
        return dev.keel.loss.LogProbs.tokenLogProbs(l32, tokens);
    }
}
