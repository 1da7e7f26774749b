"""Small PyTorch reference for Hugging Face decoder-only models (float32 compute).

Follows the eager code path of huggingface/transformers:
  * GPT-2:  models/gpt2/modeling_gpt2.py (GPT2Attention._attn, GPT2MLP, GPT2Block, GPT2Model)
  * Llama, Qwen2, Mistral: models/{llama,qwen2,mistral}/modeling_*.py
    (RMSNorm, rotate_half / apply_rotary_pos_emb, repeat_kv, eager_attention_forward, *MLP)
  * RoPE frequencies: modeling_rope_utils.py (_compute_default_rope_parameters,
    _compute_linear_scaling_rope_parameters, _compute_llama3_parameters)

Also contains a hand-written safetensors reader/writer (single file and sharded).
Only torch + numpy are needed.  Weights stored as F16/BF16 are upcast to float32.
"""

import json
import math
import os
import struct

import numpy as np
import torch

# --------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
_ST_SIZES = {"F32": 4, "F16": 2, "BF16": 2}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    if t.dtype in (torch.float32, torch.float16):
        return t.numpy().tobytes()
    raise ValueError("unsupported dtype %s" % t.dtype)


def safetensors_bytes(tensors, metadata=None):
    """Serialise {name: tensor} (F32/F16/BF16) into safetensors bytes, tensors sorted by name."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = _tensor_bytes(t)
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def save_safetensors(tensors, path, metadata=None):
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata))


def load_safetensors(path):
    """Read a safetensors file -> {name: tensor in its stored dtype} (insertion order = header order)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        dt, shape = info["dtype"], info["shape"]
        if len(raw) != _ST_SIZES[dt] * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: byte size does not match shape" % name)
        if dt == "F32":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
        elif dt == "F16":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f2").copy())
        elif dt == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            raise ValueError("unsupported dtype " + dt)
        out[name] = t.reshape(shape)
    return out


def save_sharded(tensors, directory, num_shards):
    """Write model-0000i-of-0000n.safetensors + model.safetensors.index.json (names sorted, split by bytes)."""
    names = sorted(tensors)
    sizes = [len(_tensor_bytes(tensors[n])) for n in names]
    total = sum(sizes)
    shards, cur, acc = [[] for _ in range(num_shards)], 0, 0
    for name, size in zip(names, sizes):
        # move to the next shard once this one holds its share of the bytes
        if cur < num_shards - 1 and acc >= total * (cur + 1) / num_shards:
            cur += 1
        shards[cur].append(name)
        acc += size
    weight_map = {}
    for i, shard in enumerate(shards):
        if not shard:
            raise ValueError("empty shard; use fewer shards")
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, num_shards)
        save_safetensors({n: tensors[n] for n in shard}, os.path.join(directory, fname))
        for n in shard:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def load_checkpoint(directory):
    """All tensors of a HF checkpoint folder (single file or sharded with an index)."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
        out = {}
        for fname in sorted(set(weight_map.values())):
            out.update(load_safetensors(os.path.join(directory, fname)))
        missing = set(weight_map) - set(out)
        if missing:
            raise ValueError("index lists tensors not found in shards: %s" % sorted(missing))
        return out
    return load_safetensors(os.path.join(directory, "model.safetensors"))


# --------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------

def _f32(t):
    return t.to(torch.float32)


def _linear(x, w, b=None):
    """nn.Linear: weight is [out, in]."""
    y = x @ w.t()
    return y + b if b is not None else y


def _softmax_attention(q, k, v, scale, divide):
    """q: [H, T, D], k/v: [H, T, D] (already repeated for GQA). Causal, fp32 softmax.

    GPT-2 divides by sqrt(d) and uses torch.where(mask, w, finfo.min);
    llama-family multiplies by head_dim**-0.5 and adds a finfo.min mask (same zeros after softmax).
    """
    T = q.shape[1]
    w = torch.matmul(q, k.transpose(-1, -2))
    w = w / scale if divide else w * scale
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    w = torch.where(causal, w, torch.tensor(torch.finfo(torch.float32).min))
    w = torch.softmax(w, dim=-1, dtype=torch.float32)
    return torch.matmul(w, v)


def _as_ids(input_ids):
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    if ids.dim() == 2:
        if ids.shape[0] != 1:
            raise ValueError("batch size must be 1")
        ids = ids[0]
    return ids


# --------------------------------------------------------------------------------------
# GPT-2
# --------------------------------------------------------------------------------------

def gelu_new(x):
    # activations.NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


_ACT = {
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "gelu": torch.nn.functional.gelu,
    "silu": torch.nn.functional.silu,
}


class GPT2:
    def __init__(self, config, tensors):
        self.cfg = config
        self.n_embd = config["n_embd"]
        self.n_head = config["n_head"]
        self.n_layer = config["n_layer"]
        self.eps = config.get("layer_norm_epsilon", 1e-5)
        self.act = _ACT[config.get("activation_function", "gelu_new")]
        if not config.get("scale_attn_weights", True) or config.get("scale_attn_by_inverse_layer_idx", False):
            raise NotImplementedError("non-default GPT-2 attention scaling")
        w = {}
        for name, t in tensors.items():
            if name.startswith("transformer."):
                name = name[len("transformer."):]
            if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
                continue  # legacy causal-mask buffers, not parameters
            w[name] = _f32(t)
        self.w = w
        # GPT2LMHeadModel ties lm_head to wte; a stored lm_head.weight (if any) is identical.
        self.lm_head = w.get("lm_head.weight", w["wte.weight"])
        inner = config.get("n_inner") or 4 * self.n_embd
        assert w["h.0.mlp.c_fc.weight"].shape == (self.n_embd, inner), "n_inner mismatch"

    def _ln(self, x, prefix):
        return torch.nn.functional.layer_norm(x, (self.n_embd,), self.w[prefix + ".weight"],
                                              self.w[prefix + ".bias"], self.eps)

    def _conv1d(self, x, prefix):
        # transformers.pytorch_utils.Conv1D: weight [in, out], y = x @ W + b
        return torch.addmm(self.w[prefix + ".bias"], x, self.w[prefix + ".weight"])

    def forward(self, input_ids):
        ids = _as_ids(input_ids)
        T, E, H = ids.shape[0], self.n_embd, self.n_head
        D = E // H
        pos = torch.arange(T)
        h = self.w["wte.weight"][ids] + self.w["wpe.weight"][pos]
        for i in range(self.n_layer):
            p = "h.%d" % i
            x = self._ln(h, p + ".ln_1")
            q, k, v = self._conv1d(x, p + ".attn.c_attn").split(E, dim=1)
            q, k, v = (t.view(T, H, D).transpose(0, 1) for t in (q, k, v))
            a = _softmax_attention(q, k, v, float(D) ** 0.5, divide=True)
            a = a.transpose(0, 1).reshape(T, E)
            h = h + self._conv1d(a, p + ".attn.c_proj")
            x = self._ln(h, p + ".ln_2")
            x = self._conv1d(self.act(self._conv1d(x, p + ".mlp.c_fc")), p + ".mlp.c_proj")
            h = h + x
        h = self._ln(h, "ln_f")
        return h @ self.lm_head.t()


# --------------------------------------------------------------------------------------
# RoPE (modeling_rope_utils.py)
# --------------------------------------------------------------------------------------

def rope_inv_freq(config, head_dim):
    """Inverse frequencies [head_dim/2] (float32) and attention scaling, as in ROPE_INIT_FUNCTIONS."""
    base = float(config.get("rope_theta", 10000.0))
    dim = head_dim
    # _compute_default_rope_parameters
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = config.get("rope_scaling")
    rope_type = "default" if rs is None else rs.get("rope_type", rs.get("type", "default"))
    if rope_type == "default":
        pass
    elif rope_type == "linear":  # _compute_linear_scaling_rope_parameters
        inv_freq = inv_freq / rs["factor"]
    elif rope_type == "llama3":  # _compute_llama3_parameters
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium, smoothed, inv_freq_llama)
    else:
        raise NotImplementedError("rope_scaling type %r" % rope_type)
    return inv_freq, 1.0


def llama3_bands(config, head_dim):
    """For reporting: band of each frequency under llama3 scaling ('scaled'/'smoothed'/'untouched')."""
    rs = config["rope_scaling"]
    base = float(config.get("rope_theta", 10000.0))
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    wavelen = 2 * math.pi / inv
    lo = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    hi = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    bands = []
    for wl in wavelen.tolist():
        bands.append("scaled" if wl > lo else ("untouched" if wl < hi else "smoothed"))
    return inv, wavelen, bands


def rope_cos_sin(inv_freq, T, attention_scaling=1.0):
    pos = torch.arange(T, dtype=torch.int64).float()
    freqs = (inv_freq[:, None] @ pos[None, :]).t()  # [T, D/2], same matmul as LlamaRotaryEmbedding
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * attention_scaling, emb.sin() * attention_scaling


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# --------------------------------------------------------------------------------------
# Llama / Qwen2 / Mistral
# --------------------------------------------------------------------------------------

class LlamaFamily:
    def __init__(self, config, tensors):
        mt = config["model_type"]
        if mt not in ("llama", "qwen2", "mistral"):
            raise ValueError("model_type " + mt)
        self.cfg = config
        self.E = config["hidden_size"]
        self.H = config["num_attention_heads"]
        self.KV = config.get("num_key_value_heads") or self.H
        self.D = config.get("head_dim") or self.E // self.H
        self.L = config["num_hidden_layers"]
        self.eps = config.get("rms_norm_eps", 1e-6)
        self.act = _ACT[config.get("hidden_act", "silu")]
        if mt == "mistral" and config.get("sliding_window") is not None:
            self.window = config["sliding_window"]
        elif mt == "qwen2" and config.get("use_sliding_window", False):
            raise NotImplementedError("qwen2 sliding window")
        else:
            self.window = None
        w = {}
        for name, t in tensors.items():
            if name.startswith("model."):
                name = name[len("model."):]
            w[name] = _f32(t)
        self.w = w
        if "lm_head.weight" in w:
            self.lm_head = w["lm_head.weight"]
        elif config.get("tie_word_embeddings", False):
            self.lm_head = w["embed_tokens.weight"]
        else:
            raise ValueError("lm_head.weight missing and tie_word_embeddings is false")
        self.inv_freq, self.attn_scaling = rope_inv_freq(config, self.D)

    def _rms(self, x, name):
        # LlamaRMSNorm: normalise in fp32, then weight * x
        var = x.pow(2).mean(-1, keepdim=True)
        return self.w[name] * (x * torch.rsqrt(var + self.eps))

    def _lin(self, x, name):
        return _linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def forward(self, input_ids):
        ids = _as_ids(input_ids)
        T, H, KV, D = ids.shape[0], self.H, self.KV, self.D
        if self.window is not None and T > self.window:
            raise NotImplementedError("sequence longer than sliding_window")
        cos, sin = rope_cos_sin(self.inv_freq, T, self.attn_scaling)
        h = self.w["embed_tokens.weight"][ids]
        for i in range(self.L):
            p = "layers.%d" % i
            x = self._rms(h, p + ".input_layernorm.weight")
            q = self._lin(x, p + ".self_attn.q_proj").view(T, H, D).transpose(0, 1)
            k = self._lin(x, p + ".self_attn.k_proj").view(T, KV, D).transpose(0, 1)
            v = self._lin(x, p + ".self_attn.v_proj").view(T, KV, D).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            # repeat_kv: query head j uses kv head j // (H // KV)
            k = k.repeat_interleave(H // KV, dim=0)
            v = v.repeat_interleave(H // KV, dim=0)
            a = _softmax_attention(q, k, v, D ** -0.5, divide=False)
            a = a.transpose(0, 1).reshape(T, H * D)
            h = h + self._lin(a, p + ".self_attn.o_proj")
            x = self._rms(h, p + ".post_attention_layernorm.weight")
            m = self.act(self._lin(x, p + ".mlp.gate_proj")) * self._lin(x, p + ".mlp.up_proj")
            h = h + self._lin(m, p + ".mlp.down_proj")
        h = self._rms(h, "norm.weight")
        return h @ self.lm_head.t()


# --------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------

def build_model(config, tensors):
    if config["model_type"] == "gpt2":
        return GPT2(config, tensors)
    return LlamaFamily(config, tensors)


def load_model(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    return build_model(config, load_checkpoint(directory))


@torch.no_grad()
def logits(model, input_ids):
    """input_ids [T] or [1, T] -> float32 logits [T, vocab]."""
    return model.forward(input_ids)


@torch.no_grad()
def greedy(model, input_ids, n):
    """n greedy tokens, full recompute each step (no cache). Returns (tokens, min top1-top2 margin)."""
    ids = _as_ids(input_ids).tolist()
    out, margin = [], float("inf")
    for _ in range(n):
        last = model.forward(ids)[-1]
        top = torch.topk(last, 2)
        margin = min(margin, float(top.values[0] - top.values[1]))
        tok = int(torch.argmax(last))
        out.append(tok)
        ids.append(tok)
    return out, margin
