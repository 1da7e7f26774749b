package dev.keel.model;

import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

import dev.keel.model.io.ModelConfig;

/**
 * GPT-2 (Radford et al. 2019), following transformers' {@code modeling_gpt2.py}: learned position
 * embeddings, pre-LayerNorm blocks, a fused q/k/v projection, tanh-approximated GELU ({@code gelu_new}), and
 * an output embedding tied to the input one.
 *
 * <p>GPT-2's checkpoints store projections as {@code Conv1D} weights of shape (in, out), the transpose of a
 * linear layer's (out, in). Keel keeps them in that layout and computes x W + b, so loading and saving
 * need no transposes and a round trip is bit-exact.
 */
final class Gpt2Model extends CausalLM {
    private static final String P = "transformer.";

    Gpt2Model(ModelConfig config, Map<String, Tensor> weights) {
        super(config, weights);
    }

    static Map<String, long[]> shapes(ModelConfig c) {
        long d = c.hiddenSize();
        long ff = c.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(P + "wte.weight", new long[] {c.vocabSize(), d});
        m.put(P + "wpe.weight", new long[] {c.maxPositions(), d});
        for (int i = 0; i < c.numLayers(); i++) {
            String h = P + "h." + i + ".";
            m.put(h + "ln_1.weight", new long[] {d});
            m.put(h + "ln_1.bias", new long[] {d});
            m.put(h + "attn.c_attn.weight", new long[] {d, 3 * d});
            m.put(h + "attn.c_attn.bias", new long[] {3 * d});
            m.put(h + "attn.c_proj.weight", new long[] {d, d});
            m.put(h + "attn.c_proj.bias", new long[] {d});
            m.put(h + "ln_2.weight", new long[] {d});
            m.put(h + "ln_2.bias", new long[] {d});
            m.put(h + "mlp.c_fc.weight", new long[] {d, ff});
            m.put(h + "mlp.c_fc.bias", new long[] {ff});
            m.put(h + "mlp.c_proj.weight", new long[] {ff, d});
            m.put(h + "mlp.c_proj.bias", new long[] {d});
        }
        m.put(P + "ln_f.weight", new long[] {d});
        m.put(P + "ln_f.bias", new long[] {d});
        if (!c.tieWordEmbeddings()) {
            m.put("lm_head.weight", new long[] {c.vocabSize(), d});
        }
        return m;
    }

    @Override
    protected Tensor decode(Tensor inputIds, Tensor positionIds, Tensor mask, KvCache cache) {
        Tensor h = torch.embedding(w(P + "wte.weight"), inputIds)
                .add(torch.embedding(w(P + "wpe.weight"), positionIds));            // (B, T, D)
        h = Blocks.run(h, config.numLayers(), cache, (i, x) -> block(i, x, mask, cache));
        return layerNorm(h, P + "ln_f");
    }

    /** Block {@code i}: h + attn(ln_1(h)), then + mlp(ln_2(.)). */
    private Tensor block(int i, Tensor h, Tensor mask, KvCache cache) {
        long heads = config.numHeads();
        long hd = config.headDim();
        String p = P + "h." + i + ".";
        Tensor a = layerNorm(h, p + "ln_1");
        Tensor qkv = conv1d(a, p + "attn.c_attn", cache);                        // (B, T, 3D)
        long d = config.hiddenSize();
        Tensor q = Attention.splitHeads(qkv.narrow(-1, 0, d), heads, hd);        // (B, H, T, hd)
        Tensor k = Attention.splitHeads(qkv.narrow(-1, d, d), heads, hd);
        Tensor v = Attention.splitHeads(qkv.narrow(-1, 2 * d, d), heads, hd);
        if (cache != null) {
            Tensor[] kv = cache.append(i, k, v);
            k = kv[0];
            v = kv[1];
        }
        h = h.add(conv1d(Attention.attend(q, k, v, mask), p + "attn.c_proj", cache));
        Tensor m = conv1d(layerNorm(h, p + "ln_2"), p + "mlp.c_fc", cache);
        m = config.activation().equals("gelu") ? torch.gelu(m) : torch.gelu(m, "tanh");
        return h.add(conv1d(m, p + "mlp.c_proj", cache));
    }

    @Override
    protected Tensor lmHead() {
        return config.tieWordEmbeddings() ? w(P + "wte.weight") : w("lm_head.weight");
    }

    private Tensor layerNorm(Tensor x, String name) {
        return torch.layer_norm(x, new long[] {x.size(-1)}, new TensorOptional(w(name + ".weight")),
                new TensorOptional(w(name + ".bias")), config.normEps(), false);
    }

    /** x W + b with a Conv1D weight W of shape (in, out), plus the layer's LoRA update when it has one. */
    private Tensor conv1d(Tensor x, String name) {
        return adapted(name, x, conv1dBase(x, name));
    }

    /**
     * {@link #conv1d} inside a generation with {@code cache}: the weight packed for decoding when allowed; for one
     * bfloat16 row, the weight transposed once for the generation to (out, in), whose rows {@link Bf16Mv} streams
     * (a Conv1D weight is stored (in, out)), within the weights' budget for decoding copies.
     */
    private Tensor conv1d(Tensor x, String name, KvCache cache) {
        Tensor y = packedLinear(x, cache, name, () -> w(name + ".weight").t().contiguous(), w(name + ".bias"));
        if (y != null) {
            return y;
        }
        Tensor weight = w(name + ".weight");
        if (cache != null && decodingCopiesFit && Bf16Mv.wouldApply(x, weight)) {
            Tensor outIn = cache.derived(name + "#outIn", () -> weight.t().contiguous());
            Tensor bias = w(name + ".bias");
            if (Bf16Mv.applies(x, outIn, bias)) {
                return adapted(name, x, Bf16Mv.mv(x, outIn, bias));
            }
        }
        return conv1d(x, name);
    }

    private Tensor conv1dBase(Tensor x, String name) {
        Tensor weight = w(name + ".weight");
        if (Ops.oneRowMv(x, weight)) {
            // one row (batch-1 decoding) with a float32 weight: a matrix-vector product, as in Ops.linear
            long[] shape = dev.keel.tensor.Tensors.shape(x);
            shape[shape.length - 1] = weight.size(1);
            return torch.mv(weight.t(), x.reshape(x.size(-1))).add(w(name + ".bias")).view(shape);
        }
        Tensor flat = x.reshape(-1, x.size(-1));
        Tensor y = torch.addmm(w(name + ".bias"), flat, weight);
        long[] shape = dev.keel.tensor.Tensors.shape(x);
        shape[shape.length - 1] = weight.size(1);
        return y.view(shape);
    }
}
