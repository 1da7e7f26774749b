"""Generate tiny random-weight HF checkpoints + reference logits for Keel's parity tests.

    OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/make_parity_fixtures.py

Writes src/test/fixtures/parity/<name>/{config.json, weights, reference.json}.  Deterministic.
"""

import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "src", "test", "fixtures", "parity")
SEQ_LENGTHS = (7, 12, 5)
GREEDY_TOKENS = 20
MIN_GREEDY_MARGIN = 1e-3  # redraw prompts if a greedy step is a near-tie (fragile across implementations)
TRANSFORMERS_VERSION = "4.44.2"


# --------------------------------------------------------------------------------------
# random init
# --------------------------------------------------------------------------------------

class Init:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32)

    def matrix(self, *shape):   # matrices and embeddings
        return 0.1 * self.randn(*shape)

    def bias(self, *shape):
        return 0.05 * self.randn(*shape)

    def norm(self, *shape):
        return 1.0 + 0.1 * self.randn(*shape)


def gpt2_weights(cfg, init, prefix="", mask_buffers=False):
    E, L, P, V = cfg["n_embd"], cfg["n_layer"], cfg["n_positions"], cfg["vocab_size"]
    inner = cfg["n_inner"] or 4 * E
    w = {prefix + "wte.weight": init.matrix(V, E), prefix + "wpe.weight": init.matrix(P, E)}
    for i in range(L):
        p = "%sh.%d." % (prefix, i)
        w[p + "ln_1.weight"] = init.norm(E)
        w[p + "ln_1.bias"] = init.bias(E)
        w[p + "attn.c_attn.weight"] = init.matrix(E, 3 * E)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = init.bias(3 * E)
        w[p + "attn.c_proj.weight"] = init.matrix(E, E)
        w[p + "attn.c_proj.bias"] = init.bias(E)
        w[p + "ln_2.weight"] = init.norm(E)
        w[p + "ln_2.bias"] = init.bias(E)
        w[p + "mlp.c_fc.weight"] = init.matrix(E, inner)
        w[p + "mlp.c_fc.bias"] = init.bias(inner)
        w[p + "mlp.c_proj.weight"] = init.matrix(inner, E)
        w[p + "mlp.c_proj.bias"] = init.bias(E)
        if mask_buffers:  # legacy causal-mask buffer carried by the real openai-community/gpt2 file
            w[p + "attn.bias"] = torch.tril(torch.ones(P, P, dtype=torch.float32)).view(1, 1, P, P)
    w[prefix + "ln_f.weight"] = init.norm(E)
    w[prefix + "ln_f.bias"] = init.bias(E)
    return w


def llama_weights(cfg, init, qkv_bias=False, o_bias=False, mlp_bias=False):
    E, L, V, I = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"], cfg["intermediate_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or E // H
    w = {"model.embed_tokens.weight": init.matrix(V, E)}
    for i in range(L):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = init.norm(E)
        for name, out in (("q_proj", H * D), ("k_proj", KV * D), ("v_proj", KV * D)):
            w[p + "self_attn.%s.weight" % name] = init.matrix(out, E)
            if qkv_bias:
                w[p + "self_attn.%s.bias" % name] = init.bias(out)
        w[p + "self_attn.o_proj.weight"] = init.matrix(E, H * D)
        if o_bias:
            w[p + "self_attn.o_proj.bias"] = init.bias(E)
        w[p + "post_attention_layernorm.weight"] = init.norm(E)
        for name, shape in (("gate_proj", (I, E)), ("up_proj", (I, E)), ("down_proj", (E, I))):
            w[p + "mlp.%s.weight" % name] = init.matrix(*shape)
            if mlp_bias:
                w[p + "mlp.%s.bias" % name] = init.bias(shape[0])
    w["model.norm.weight"] = init.norm(E)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = init.matrix(V, E)
    return w


def cast(w, dtype):
    return {k: v.to(dtype) for k, v in w.items()}


# --------------------------------------------------------------------------------------
# configs (field names and defaults as in the HF config classes / hub config.json files)
# --------------------------------------------------------------------------------------

def gpt2_config(vocab, n_positions, n_inner, torch_dtype):
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": vocab - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": vocab - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": n_positions,
        "n_embd": 64,
        "n_head": 4,
        "n_inner": n_inner,
        "n_layer": 2,
        "n_positions": n_positions,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "tie_word_embeddings": True,
        "torch_dtype": torch_dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    }


def fixture_specs():
    specs = []

    cfg = gpt2_config(vocab=96, n_positions=64, n_inner=None, torch_dtype="float32")
    specs.append(("gpt2-tiny", 1001, cfg,
                  lambda c, i: gpt2_weights(c, i, prefix="", mask_buffers=True), None))

    cfg = gpt2_config(vocab=112, n_positions=64, n_inner=96, torch_dtype="float16")
    specs.append(("gpt2-tiny-f16", 1002, cfg,
                  lambda c, i: cast(gpt2_weights(c, i, prefix="transformer."), torch.float16), None))

    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 96,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        # original_max_position_embeddings is 64, not 16: with head_dim 16 the highest frequency is
        # 1 rad/token (wavelength 2*pi), so an "untouched" band (wavelength < omp/high_freq_factor)
        # needs omp/4 > 2*pi.  64 gives: untouched, smoothed, scaled x6.
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 64, "rope_type": "llama3"},
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": 128,
    }
    specs.append(("llama3-rope-sharded", 1003, cfg, lambda c, i: llama_weights(c, i), 2))

    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 118,
        "eos_token_id": 119,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "max_window_layers": 2,
        "model_type": "qwen2",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": 128,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": 120,
    }
    specs.append(("qwen2-tiny-bf16", 1004, cfg,
                  lambda c, i: cast(llama_weights(c, i, qkv_bias=True), torch.bfloat16), None))

    cfg = {
        "architectures": ["MistralForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 32,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 112,
        "max_position_embeddings": 128,
        "model_type": "mistral",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": 104,
    }
    specs.append(("mistral-tiny-headdim", 1005, cfg, lambda c, i: llama_weights(c, i), None))
    return specs


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def write_fixture(name, seed, cfg, make_weights, shards):
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    init = Init(seed)
    weights = make_weights(cfg, init)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if shards:
        R.save_sharded(weights, d, shards)
    else:
        R.save_safetensors(weights, os.path.join(d, "model.safetensors"))

    # Reference output comes from the files just written (so F16/BF16 rounding is included).
    model = R.load_model(d)
    vocab = cfg["vocab_size"]
    for attempt in range(100):
        seqs = [torch.randint(0, vocab, (n,), generator=init.g).tolist() for n in SEQ_LENGTHS]
        ref = {"input_ids": seqs, "logits": [], "greedy": []}
        margins = []
        for s in seqs:
            ref["logits"].append([[float(x) for x in row] for row in R.logits(model, s).tolist()])
            toks, m = R.greedy(model, s, GREEDY_TOKENS)
            ref["greedy"].append(toks)
            margins.append(m)
        if min(margins) >= MIN_GREEDY_MARGIN:
            break
    else:
        raise RuntimeError("could not find prompts without greedy near-ties")
    with open(os.path.join(d, "reference.json"), "w") as f:
        f.write(json.dumps(ref, separators=(",", ":")) + "\n")

    probs = torch.softmax(torch.tensor(ref["logits"][1]), -1).max(-1).values
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print("%-22s seed %d, %d prompt draw(s), min greedy margin %.4f, top1 prob %.2f..%.2f (uniform %.3f), %d bytes"
          % (name, seed, attempt + 1, min(margins), probs.min(), probs.max(), 1.0 / vocab, size))
    return model


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name, seed, cfg, make_weights, shards in fixture_specs():
        model = write_fixture(name, seed, cfg, make_weights, shards)
        if cfg.get("rope_scaling"):
            inv, wl, bands = R.llama3_bands(cfg, model.D)
            for j, (f, w_, b) in enumerate(zip(model.inv_freq.tolist(), wl.tolist(), bands)):
                print("    freq %d: wavelen %10.2f  band %-9s  inv_freq %.6g -> %.6g" % (j, w_, b, inv[j], f))


if __name__ == "__main__":
    main()
