package dev.keel.model;

import static dev.keel.tensor.Tensors.s;

import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.io.ModelConfig;

/**
 * The Llama family (Touvron et al. 2023): Llama 2 and 3, Mistral, Qwen2 and SmolLM share this block, following
 * transformers' {@code modeling_llama.py}: RMSNorm before attention and MLP, rotary position embeddings,
 * grouped-query attention, and a SwiGLU MLP down(silu(gate(x)) * up(x)) (Shazeer 2020). Qwen2 adds biases on
 * the q/k/v projections; Mistral may set a sliding attention window.
 */
final class LlamaModel extends CausalLM {
    private static final String P = "model.";
    private final RotaryEmbedding rope;
    private final double[] invFreq;
    private final boolean fuseForDecoding;

    LlamaModel(ModelConfig config, Map<String, Tensor> weights) {
        super(config, weights);
        this.rope = new RotaryEmbedding(config.headDim(), config.ropeTheta(), config.ropeScaling());
        this.invFreq = RotaryEmbedding.inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
        long rows = (long) (config.numHeads() + 2L * config.numKvHeads()) * config.headDim() + 2L * config.intermediateSize();
        long bytes = rows * config.hiddenSize() * config.numLayers() * weights.values().iterator().next().element_size();
        this.fuseForDecoding = bytes <= DECODING_COPIES_BYTES;  // the stacked q/k/v and gate/up copies
    }

    static Map<String, long[]> shapes(ModelConfig c) {
        long d = c.hiddenSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        long ff = c.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(P + "embed_tokens.weight", new long[] {c.vocabSize(), d});
        for (int i = 0; i < c.numLayers(); i++) {
            String l = P + "layers." + i + ".";
            m.put(l + "input_layernorm.weight", new long[] {d});
            linear(m, l + "self_attn.q_proj", q, d, c.attentionBias());
            linear(m, l + "self_attn.k_proj", kv, d, c.attentionBias());
            linear(m, l + "self_attn.v_proj", kv, d, c.attentionBias());
            linear(m, l + "self_attn.o_proj", d, q, c.outputBias());
            m.put(l + "post_attention_layernorm.weight", new long[] {d});
            linear(m, l + "mlp.gate_proj", ff, d, c.mlpBias());
            linear(m, l + "mlp.up_proj", ff, d, c.mlpBias());
            linear(m, l + "mlp.down_proj", d, ff, c.mlpBias());
        }
        m.put(P + "norm.weight", new long[] {d});
        if (!c.tieWordEmbeddings()) {
            m.put("lm_head.weight", new long[] {c.vocabSize(), d});
        }
        return m;
    }

    private static void linear(Map<String, long[]> m, String name, long out, long in, boolean bias) {
        m.put(name + ".weight", new long[] {out, in});
        if (bias) {
            m.put(name + ".bias", new long[] {out});
        }
    }

    @Override
    protected Tensor decode(Tensor inputIds, Tensor positionIds, Tensor mask, KvCache cache) {
        LlamaJvmStep jvm = jvmStep(inputIds, mask, cache);
        if (jvm != null) {
            return jvm.step(inputIds, positionIds, cache);
        }
        Tensor h = torch.embedding(w(P + "embed_tokens.weight"), inputIds);          // (B, T, D)
        Tensor[] cs = rope.cosSin(positionIds, computeType());                      // (B, 1, T, hd) each
        // Decoding with a cache runs a few small products per token, where each kernel launch counts: stack
        // q/k/v and gate/up into one product each, for this generation (the cache holds the stacked copies).
        boolean fused = cache != null && fuseForDecoding && !org.bytedeco.pytorch.GradMode.is_enabled() && !adaptersActive();
        h = Blocks.run(h, config.numLayers(), cache, (i, x) -> block(i, x, cs, mask, cache, fused, null));
        return rmsNorm(h, P + "norm.weight");
    }

    /**
     * The step on the JVM for this token of a batch-1 generation in bfloat16 or float32 ({@link LlamaJvmStep}), or null for
     * libtorch's: with gradients, under autocast or with a LoRA update being added, or where the step does not apply.
     */
    private LlamaJvmStep jvmStep(Tensor inputIds, Tensor mask, KvCache cache) {
        if (!LlamaJvmStep.applies(config, inputIds, mask, cache, w(P + "embed_tokens.weight"))
                || org.bytedeco.pytorch.GradMode.is_enabled() || Compute.bf16() || adaptersActive()) {
            return null;
        }
        java.util.function.Function<String, Tensor> stacked = !fuseForDecoding ? null : key -> {
            String[] names = key.substring(key.lastIndexOf('.') + 1).split("\\+");
            String prefix = key.substring(0, key.lastIndexOf('.') + 1);
            return cache.derived(key + ".weight", () -> stack(prefix, names, ".weight"));
        };
        return LlamaJvmStep.of(cache, config, invFreq, this::w, this::wOrNull, stacked, lmHead());
    }

    /** The head on the JVM for a generation whose steps run there ({@link LlamaJvmStep#head}). */
    @Override
    protected Tensor decodingHead(Tensor hidden, KvCache cache) {
        Object step = cache.attached(LlamaJvmStep.class);
        return step instanceof LlamaJvmStep && !org.bytedeco.pytorch.GradMode.is_enabled() && !Compute.bf16()
                ? ((LlamaJvmStep) step).head(hidden) : null;
    }

    /** The blocks below the last as {@link #decode}; the last one's queries and MLP at columns {@code at} only. */
    @Override
    protected Tensor decodeAt(Tensor inputIds, Tensor positionIds, Tensor mask, Tensor at) {
        Tensor h = torch.embedding(w(P + "embed_tokens.weight"), inputIds);
        Tensor[] cs = rope.cosSin(positionIds, computeType());
        int last = config.numLayers() - 1;
        h = Blocks.run(h, last, null, (i, x) -> block(i, x, cs, mask, null, false, null));
        return rmsNorm(block(last, h, cs, mask, null, false, at), P + "norm.weight");
    }

    /**
     * Block {@code i}: h + attn(norm(h)) with rotary q and k, then + mlp(norm(.)); with {@code at} (B, K), its output
     * at those columns only (B, K, D): queries, residual and MLP there, keys and values at every column.
     */
    private Tensor block(int i, Tensor h, Tensor[] cs, Tensor mask, KvCache cache, boolean fused, Tensor at) {
        long hd = config.headDim();
        long qDim = config.numHeads() * hd;
        long kvDim = config.numKvHeads() * hd;
        long ff = config.intermediateSize();
        String p = P + "layers." + i + ".";
        Tensor a = rmsNorm(h, p + "input_layernorm.weight");
        Tensor q;
        Tensor k;
        Tensor v;
        Tensor cosQ = cs[0];
        Tensor sinQ = cs[1];
        if (at != null) {
            q = linear(columns(a, at), p + "self_attn.q_proj");
            k = linear(a, p + "self_attn.k_proj");
            v = linear(a, p + "self_attn.v_proj");
            cosQ = Attention.queryRows(cs[0], at);
            sinQ = Attention.queryRows(cs[1], at);
            mask = Attention.queryRowsOfMask(mask, at, h.size(1));
            h = columns(h, at);
        } else if (fused) {
            Tensor qkv = stackedLinear(a, cache, p + "self_attn.", "q_proj", "k_proj", "v_proj");
            q = qkv.narrow(-1, 0, qDim);
            k = qkv.narrow(-1, qDim, kvDim);
            v = qkv.narrow(-1, qDim + kvDim, kvDim);
        } else {
            q = linear(a, p + "self_attn.q_proj");
            k = linear(a, p + "self_attn.k_proj");
            v = linear(a, p + "self_attn.v_proj");
        }
        q = Attention.splitHeads(q, config.numHeads(), hd);
        k = Attention.splitHeads(k, config.numKvHeads(), hd);
        v = Attention.splitHeads(v, config.numKvHeads(), hd);
        q = RotaryEmbedding.apply(q, cosQ, sinQ);
        k = RotaryEmbedding.apply(k, cs[0], cs[1]);
        if (cache != null) {
            Tensor[] kv = cache.append(i, k, v);
            k = kv[0];
            v = kv[1];
        }
        Tensor attended = Attention.attend(q, k, v, mask);
        h = h.add(fused ? decodingLinear(attended, cache, p + "self_attn.o_proj") : linear(attended, p + "self_attn.o_proj"));
        Tensor m = rmsNorm(h, p + "post_attention_layernorm.weight");
        Tensor gated;
        if (fused) {
            Tensor gu = stackedLinear(m, cache, p + "mlp.", "gate_proj", "up_proj");
            gated = torch.silu(gu.narrow(-1, 0, ff)).mul(gu.narrow(-1, ff, ff));
        } else {
            gated = torch.silu(linear(m, p + "mlp.gate_proj")).mul(linear(m, p + "mlp.up_proj"));
        }
        return h.add(fused ? decodingLinear(gated, cache, p + "mlp.down_proj") : linear(gated, p + "mlp.down_proj"));
    }

    @Override
    protected Tensor lmHead() {
        return config.tieWordEmbeddings() ? w(P + "embed_tokens.weight") : w("lm_head.weight");
    }

    /** weight * x / sqrt(mean(x^2) + eps), computed in float32 and cast back, as transformers' LlamaRMSNorm. */
    private Tensor rmsNorm(Tensor x, String name) {
        if (x.scalar_type().intern() == ScalarType.Float) {
            // already float32: libtorch's fused kernel computes the same thing in one call
            return torch.rms_norm(x, new long[] {x.size(-1)}, new TensorOptional(w(name)),
                    new org.bytedeco.pytorch.DoubleOptional(config.normEps()));
        }
        Tensor x32 = x.to(ScalarType.Float);
        Tensor var = x32.pow(s(2.0)).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
        Tensor normed = x32.mul(torch.rsqrt(var.add(s(config.normEps()))));
        return w(name).mul(normed.to(x.scalar_type()));
    }

    /** x through the projections {@code prefix + names[i]} stacked into one (outputs concatenated in order). */
    private Tensor stackedLinear(Tensor x, KvCache cache, String prefix, String... names) {
        String key = prefix + String.join("+", names);
        Tensor bias = wOrNull(prefix + names[0] + ".bias") == null ? null
                : cache.derived(key + ".bias", () -> stack(prefix, names, ".bias"));
        // packed, the stacked copy is a temporary; plain, the cache keeps it
        Tensor y = packedLinear(x, cache, key, () -> stack(prefix, names, ".weight"), bias);
        return y != null ? y : Ops.linear(x, cache.derived(key + ".weight", () -> stack(prefix, names, ".weight")), bias);
    }

    /** Projection {@code name} (no LoRA update: decoding copies are used only without one) inside a generation. */
    private Tensor decodingLinear(Tensor x, KvCache cache, String name) {
        Tensor y = packedLinear(x, cache, name, () -> w(name + ".weight"), wOrNull(name + ".bias"));
        return y != null ? y : linear(x, name);
    }

    private Tensor stack(String prefix, String[] names, String suffix) {
        Tensor[] parts = new Tensor[names.length];
        for (int i = 0; i < names.length; i++) {
            parts[i] = w(prefix + names[i] + suffix);
        }
        return torch.cat(new org.bytedeco.pytorch.TensorVector(parts), 0);
    }

    private Tensor linear(Tensor x, String name) {
        return adapted(name, x, Ops.linear(x, w(name + ".weight"), wOrNull(name + ".bias")));
    }
}
