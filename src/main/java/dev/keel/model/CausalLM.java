package dev.keel.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.tensor.Tensors;

/**
 * A decoder-only causal language model: token ids in, hidden states and next-token logits out. Weights are
 * held by name, with the names transformers' {@code ...ForCausalLM} classes use (so saving needs no
 * mapping); subclasses wire them into blocks.
 *
 * <p>Weights must outlive every forward pass: create the model outside any {@code PointerScope}.
 */
public abstract class CausalLM {
    protected final ModelConfig config;
    protected final Map<String, Tensor> weights;
    protected final DType dtype;

    protected CausalLM(ModelConfig config, Map<String, Tensor> weights) {
        this.config = config;
        Map<String, long[]> expected = expectedShapes(config);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = weights.get(e.getKey());
            if (t == null) {
                throw new KeelException("missing weight '" + e.getKey() + "'");
            }
            if (!java.util.Arrays.equals(Tensors.shape(t), e.getValue())) {
                throw new KeelException("weight '" + e.getKey() + "' has shape "
                        + java.util.Arrays.toString(Tensors.shape(t)) + ", expected "
                        + java.util.Arrays.toString(e.getValue()));
            }
        }
        this.weights = Collections.unmodifiableMap(new LinkedHashMap<>(weights));
        this.dtype = DType.fromScalarType(weights.values().iterator().next().scalar_type());
    }

    /** Builds the model of {@code config.family()} over {@code weights} (names as in {@link #expectedShapes}). */
    public static CausalLM create(ModelConfig config, Map<String, Tensor> weights) {
        switch (config.family()) {
            case GPT2:
                return new Gpt2Model(config, weights);
            case LLAMA:
                return new LlamaModel(config, weights);
            default:
                throw new IllegalStateException("unhandled family " + config.family());
        }
    }

    /** Every weight this architecture needs, by transformers' name, with its shape, in a stable order. */
    public static Map<String, long[]> expectedShapes(ModelConfig config) {
        switch (config.family()) {
            case GPT2:
                return Gpt2Model.shapes(config);
            case LLAMA:
                return LlamaModel.shapes(config);
            default:
                throw new IllegalStateException("unhandled family " + config.family());
        }
    }

    /**
     * Final hidden states (B, T, D) for {@code inputIds} (B, T).
     *
     * @param positionIds (B, T) int64 positions of the new tokens
     * @param mask        (B, 1, T, S) bool, true where a query may attend to a key (S = cached + T); null when
     *                    nothing is padded and no sliding window applies, with T = 1 or no cache: then
     *                    attention is plain causal
     * @param cache       cached keys and values, appended to; null for none
     */
    public abstract Tensor hidden(Tensor inputIds, Tensor positionIds, Tensor mask, KvCache cache);

    /** Next-token logits (..., vocab) from final hidden states (..., D). */
    public Tensor logits(Tensor hidden) {
        return Ops.linear(hidden, lmHead(), null);
    }

    /** The output embedding (vocab, D): the input embedding when tied. */
    protected abstract Tensor lmHead();

    /**
     * Logits (B, T, vocab) of a padded batch without a cache: positions and the causal mask come from
     * {@code keep} (B, T), 1 for real tokens and 0 for padding on either side.
     */
    public Tensor forward(Tensor inputIds, Tensor keep) {
        Tensor pos = AttentionMask.positionIds(keep);
        Tensor mask = AttentionMask.causal(keep, inputIds.size(1), config.slidingWindow());
        return logits(hidden(inputIds, pos, mask, null));
    }

    public ModelConfig config() {
        return config;
    }

    /** The weights by name, in a stable order (read-only map; the tensors are the live parameters). */
    public Map<String, Tensor> weights() {
        return weights;
    }

    /** The parameters to train: every weight, in {@link #weights()} order. */
    public List<Tensor> parameters() {
        return new ArrayList<>(weights.values());
    }

    /** The dtype the weights (and so the computation) are in. */
    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return weights.values().iterator().next().device();
    }

    public long numParameters() {
        long n = 0;
        for (Tensor t : weights.values()) {
            n += t.numel();
        }
        return n;
    }

    protected Tensor w(String name) {
        Tensor t = weights.get(name);
        if (t == null) {
            throw new IllegalStateException("no weight " + name);
        }
        return t;
    }

    protected Tensor wOrNull(String name) {
        return weights.get(name);
    }

    protected ScalarType computeType() {
        return dtype.scalarType();
    }
}
