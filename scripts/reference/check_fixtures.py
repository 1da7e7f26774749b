"""Self-checks for the parity fixtures.

    OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/check_fixtures.py

1. reload every fixture with hf_reference's reader and reproduce reference.json (logits bit-exact, greedy equal);
2. causality: logits at position t do not change when tokens after t change;
3. an independent float64 numpy implementation (own safetensors parser, BF16 via bit shifts, per-query
   attention loop, RoPE written as explicit 2-D rotations of pairs (i, i + d/2)) agrees with reference.json.
"""

import glob
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "src", "test", "fixtures", "parity")


# ---------------- independent numpy reader + models ----------------

def np_read(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    hdr = json.loads(raw[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b = raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]
        if v["dtype"] == "F32":
            a = np.frombuffer(b, "<f4").astype(np.float64)
        elif v["dtype"] == "F16":
            a = np.frombuffer(b, "<f2").astype(np.float64)
        elif v["dtype"] == "BF16":
            a = (np.frombuffer(b, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        out[k] = a.reshape(v["shape"])
    return out


def np_load(d):
    files = sorted(glob.glob(os.path.join(d, "*.safetensors")))
    w = {}
    for f in files:
        w.update(np_read(f))
    return w


def np_gpt2(cfg, w, ids):
    w = {k.replace("transformer.", "", 1): v for k, v in w.items()}
    E, H = cfg["n_embd"], cfg["n_head"]
    D, eps, T = E // H, cfg["layer_norm_epsilon"], len(ids)

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    h = w["wte.weight"][ids] + w["wpe.weight"][np.arange(T)]
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        qkv = ln(h, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        att = np.zeros((T, E))
        for hd in range(H):
            sl = slice(hd * D, (hd + 1) * D)
            q, k, v = qkv[:, sl], qkv[:, E:][:, sl], qkv[:, 2 * E:][:, sl]
            for t in range(T):
                s = k[:t + 1] @ q[t] / math.sqrt(D)
                e = np.exp(s - s.max())
                att[t, sl] = (e / e.sum()) @ v[:t + 1]
        h = h + att @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        x = gelu(ln(h, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        h = h + x @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    return ln(h, "ln_f") @ w["wte.weight"].T


def np_inv_freq(cfg, D):
    theta = cfg["rope_theta"]
    inv = np.array([theta ** (-(2 * i) / D) for i in range(D // 2)])
    rs = cfg.get("rope_scaling")
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "linear":
            inv = inv / rs["factor"]
        elif kind == "llama3":
            f, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], \
                rs["original_max_position_embeddings"]
            out = []
            for x in inv:
                wl = 2 * math.pi / x
                if wl < old / hi:
                    out.append(x)
                elif wl > old / lo:
                    out.append(x / f)
                else:
                    s = (old / wl - lo) / (hi - lo)
                    out.append((1 - s) * x / f + s * x)
            inv = np.array(out)
    return inv


def np_llama(cfg, w, ids):
    w = {(k[6:] if k.startswith("model.") else k): v for k, v in w.items()}
    E, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or E // H
    eps, T = cfg["rms_norm_eps"], len(ids)
    inv = np_inv_freq(cfg, D)

    def rms(x, n):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w[n]

    def lin(x, n):
        y = x @ w[n + ".weight"].T
        return y + w[n + ".bias"] if n + ".bias" in w else y

    def rope(x, t):  # x: [D], rotate pair (i, i + D/2) by angle t * inv[i]
        y = x.copy()
        for i in range(D // 2):
            a = t * inv[i]
            c, s = math.cos(a), math.sin(a)
            y[i] = x[i] * c - x[i + D // 2] * s
            y[i + D // 2] = x[i] * s + x[i + D // 2] * c
        return y

    h = w["embed_tokens.weight"][ids]
    for L in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % L
        x = rms(h, p + "input_layernorm.weight")
        q, k, v = (lin(x, p + "self_attn." + n) for n in ("q_proj", "k_proj", "v_proj"))
        att = np.zeros((T, H * D))
        for hd in range(H):
            g = hd // (H // KV)
            qh = np.stack([rope(q[t, hd * D:(hd + 1) * D], t) for t in range(T)])
            kh = np.stack([rope(k[t, g * D:(g + 1) * D], t) for t in range(T)])
            vh = v[:, g * D:(g + 1) * D]
            for t in range(T):
                s = kh[:t + 1] @ qh[t] / math.sqrt(D)
                e = np.exp(s - s.max())
                att[t, hd * D:(hd + 1) * D] = (e / e.sum()) @ vh[:t + 1]
        h = h + lin(att, p + "self_attn.o_proj")
        x = rms(h, p + "post_attention_layernorm.weight")
        gt = lin(x, p + "mlp.gate_proj")
        h = h + lin(gt / (1 + np.exp(-gt)) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms(h, "norm.weight")
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["embed_tokens.weight"]
    return h @ head.T


# ---------------- checks ----------------

def main():
    torch.set_num_threads(1)
    ok = True
    for d in sorted(glob.glob(os.path.join(FIX, "*"))):
        name = os.path.basename(d)
        cfg = json.load(open(os.path.join(d, "config.json")))
        ref = json.load(open(os.path.join(d, "reference.json")))
        model = R.load_model(d)
        exact, greedy_ok, causal_max, indep_max = True, True, 0.0, 0.0
        for s, lg, gr in zip(ref["input_ids"], ref["logits"], ref["greedy"]):
            out = R.logits(model, s)
            exact &= torch.equal(out, torch.tensor(lg, dtype=torch.float32))
            greedy_ok &= R.greedy(model, s, len(gr))[0] == gr
            # causality: change every token after t, earlier logits must be identical
            for t in range(len(s) - 1):
                s2 = s[:t + 1] + [(x + 17) % cfg["vocab_size"] for x in s[t + 1:]]
                diff = (R.logits(model, s2)[:t + 1] - out[:t + 1]).abs().max().item()
                causal_max = max(causal_max, diff)
            # independent float64 implementation
            w = np_load(d)
            fn = np_gpt2 if cfg["model_type"] == "gpt2" else np_llama
            ind = fn(cfg, w, np.array(s))
            indep_max = max(indep_max, float(np.abs(ind - np.array(lg)).max()))
        good = exact and greedy_ok and causal_max == 0.0 and indep_max < 1e-4
        ok &= good
        print("%-22s reload-exact=%s greedy=%s causal-maxdiff=%g float64-indep-maxdiff=%.2e %s"
              % (name, exact, greedy_ok, causal_max, indep_max, "OK" if good else "FAIL"))

    # safetensors round trip incl. BF16/F16 bit patterns and sharding
    t = {"a": torch.randn(3, 5), "b": torch.randn(7).half(), "c": torch.randn(2, 2, 2).bfloat16()}
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        R.save_safetensors(t, os.path.join(tmp, "x.safetensors"))
        back = R.load_safetensors(os.path.join(tmp, "x.safetensors"))
        rt = all(back[k].dtype == t[k].dtype and torch.equal(back[k], t[k]) for k in t)
        R.save_sharded(t, tmp, 2)
        back = R.load_checkpoint(tmp)
        rt &= all(torch.equal(back[k], t[k]) for k in t)
    print("safetensors round trip:", rt)
    ok &= rt
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
