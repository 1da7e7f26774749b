"""PyTorch eager reference for `keel bench`: the same work Keel does, timed the same way.

Runs with Debian's python3-torch (`/usr/bin/python3`), never as a Keel runtime dependency. Loads the
checkpoint Keel wrote (hand-written safetensors reader in scripts/reference/hf_reference.py), so both sides
run identical weights and shapes. The model code follows transformers' eager Llama path
(modeling_llama.py: LlamaRMSNorm, rotate_half, repeat_kv, eager_attention_forward, LlamaMLP) with a KV cache
as transformers' DynamicCache (concatenation along the sequence).

Prints one JSON object: the measurements and which BLAS torch is running on.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))

import torch  # noqa: E402

import hf_reference as ref  # noqa: E402


def blas_in_use():
    """'openblas', 'reference' (netlib libblas) or 'unknown', from the libraries mapped into this process."""
    torch.matmul(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        maps = f.read()
    if "openblas" in maps:
        return "openblas"
    if "libblas.so" in maps or "/blas/" in maps:
        return "reference"
    if "mkl" in maps:
        return "mkl"
    return "unknown"


class CachedLlama:
    """Batched Llama forward with a KV cache; float32; no padding (all prompts the same length)."""

    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = json.load(f)
        m = ref.LlamaFamily(self.cfg, ref.load_checkpoint(directory))
        self.m = m
        self.w = m.w

    def _lin(self, x, name):
        w = self.w[name + ".weight"]
        b = self.w.get(name + ".bias")
        return torch.nn.functional.linear(x, w, b)

    def _rms(self, x, name):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.w[name] * (x * torch.rsqrt(var + self.m.eps))

    def forward(self, ids, start, cache):
        """ids [B, T] at positions start..start+T-1; cache: list of (k, v) per layer, or Nones."""
        m = self.m
        B, T = ids.shape
        H, KV, D = m.H, m.KV, m.D
        pos = torch.arange(start, start + T, dtype=torch.int64).float()
        freqs = torch.outer(pos, m.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        h = torch.nn.functional.embedding(ids, self.w["embed_tokens.weight"])
        for i in range(m.L):
            p = "layers.%d" % i
            x = self._rms(h, p + ".input_layernorm.weight")
            q = self._lin(x, p + ".self_attn.q_proj").view(B, T, H, D).transpose(1, 2)
            k = self._lin(x, p + ".self_attn.k_proj").view(B, T, KV, D).transpose(1, 2)
            v = self._lin(x, p + ".self_attn.v_proj").view(B, T, KV, D).transpose(1, 2)
            q = q * cos + ref.rotate_half(q) * sin
            k = k * cos + ref.rotate_half(k) * sin
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k), dim=2)
                v = torch.cat((cache[i][1], v), dim=2)
            cache[i] = (k, v)
            if H != KV:
                k = k.repeat_interleave(H // KV, dim=1)
                v = v.repeat_interleave(H // KV, dim=1)
            w = torch.matmul(q, k.transpose(-1, -2)) * D ** -0.5
            S = k.shape[2]
            if T > 1:
                causal = torch.ones(T, S, dtype=torch.bool).tril(S - T)
                w = w.masked_fill(~causal, torch.finfo(torch.float32).min)
            w = torch.softmax(w, dim=-1, dtype=torch.float32)
            a = torch.matmul(w, v).transpose(1, 2).reshape(B, T, H * D)
            h = h + self._lin(a, p + ".self_attn.o_proj")
            x = self._rms(h, p + ".post_attention_layernorm.weight")
            mm = torch.nn.functional.silu(self._lin(x, p + ".mlp.gate_proj")) * self._lin(x, p + ".mlp.up_proj")
            h = h + self._lin(mm, p + ".mlp.down_proj")
        h = self._rms(h[:, -1:, :], "norm.weight")
        return (h @ m.lm_head.t())[:, -1, :]

    @torch.no_grad()
    def generate(self, prompts, new_tokens):
        cache = [None] * self.m.L
        logits = self.forward(prompts, 0, cache)
        start = prompts.shape[1]
        out = []
        for _ in range(new_tokens):
            tok = logits.argmax(-1, keepdim=True)
            out.append(tok)
            logits = self.forward(tok, start, cache)
            start += 1
        return torch.cat(out, dim=1)


class BatchedGPT2(torch.nn.Module):
    """GPT-2 (transformers' modeling_gpt2.py, eager path) over a batch, with trainable parameters."""

    def __init__(self, directory):
        super().__init__()
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = json.load(f)
        t = ref.load_checkpoint(directory)
        self.p = torch.nn.ParameterDict()
        for name, v in t.items():
            name = name[len("transformer."):] if name.startswith("transformer.") else name
            if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
                continue
            self.p[name.replace(".", "__")] = torch.nn.Parameter(v.float().clone())
        self.L = self.cfg["n_layer"]
        self.H = self.cfg["n_head"]
        self.eps = self.cfg.get("layer_norm_epsilon", 1e-5)

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def forward(self, ids):
        B, T = ids.shape
        d = self.w("wte.weight").shape[1]
        hd = d // self.H
        h = torch.nn.functional.embedding(ids, self.w("wte.weight")) + self.w("wpe.weight")[:T]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(self.L):
            p = "h.%d." % i
            a = torch.nn.functional.layer_norm(h, (d,), self.w(p + "ln_1.weight"), self.w(p + "ln_1.bias"), self.eps)
            qkv = torch.addmm(self.w(p + "attn.c_attn.bias"), a.reshape(-1, d), self.w(p + "attn.c_attn.weight")).view(B, T, 3 * d)
            q, k, v = qkv.split(d, dim=2)
            q = q.view(B, T, self.H, hd).transpose(1, 2)
            k = k.view(B, T, self.H, hd).transpose(1, 2)
            v = v.view(B, T, self.H, hd).transpose(1, 2)
            att = torch.matmul(q, k.transpose(-1, -2)) / (hd ** 0.5)
            att = torch.where(causal, att, torch.tensor(torch.finfo(torch.float32).min))
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, v).transpose(1, 2).reshape(B * T, d)
            h = h + torch.addmm(self.w(p + "attn.c_proj.bias"), y, self.w(p + "attn.c_proj.weight")).view(B, T, d)
            m = torch.nn.functional.layer_norm(h, (d,), self.w(p + "ln_2.weight"), self.w(p + "ln_2.bias"), self.eps)
            m = torch.addmm(self.w(p + "mlp.c_fc.bias"), m.reshape(B * T, d), self.w(p + "mlp.c_fc.weight"))
            m = ref.gelu_new(m)
            h = h + torch.addmm(self.w(p + "mlp.c_proj.bias"), m, self.w(p + "mlp.c_proj.weight")).view(B, T, d)
        h = torch.nn.functional.layer_norm(h, (d,), self.w("ln_f.weight"), self.w("ln_f.bias"), self.eps)
        return h @ self.w("wte.weight").t()


def train_case(a):
    model = BatchedGPT2(a.model)
    vocab = model.cfg["vocab_size"]
    g = torch.Generator().manual_seed(a.seed)
    decay = [p for n, p in model.p.items() if p.dim() >= 2]
    plain = [p for n, p in model.p.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": plain, "weight_decay": 0.0}], lr=1e-5)
    rows = a.batch * (2 if a.case == "dpo" else 1)
    ids = torch.randint(0, vocab, (rows, a.seq), generator=g)
    half = a.seq // 2

    def step():
        logits = model(ids)[:, :-1].float()
        # TRL's selective_log_softmax for float32: the picked logit minus logsumexp, no full log-softmax
        lp = logits.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        if a.case == "sft":
            loss = -lp.mean()
        else:
            s = lp[:, half - 1:].sum(-1)
            c, r = s[: a.batch] + 400, s[a.batch:] + 410
            loss = -torch.nn.functional.logsigmoid(0.1 * (c - r)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    print(json.dumps({
        "case": a.case, "batch": a.batch, "seconds": sec, "tokens_per_s": rows * a.seq / sec,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "blas": blas_in_use(), "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=["generate", "sft", "dpo"])
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.case in ("sft", "dpo"):
        train_case(a)
        return
    model = CachedLlama(a.model)
    g = torch.Generator().manual_seed(a.seed)
    vocab = model.cfg["vocab_size"]
    prompts = torch.randint(3, vocab, (a.batch, a.prompt_len), generator=g)
    model.generate(prompts, a.new_tokens)  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        model.generate(prompts, a.new_tokens)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    print(json.dumps({
        "case": a.case, "batch": a.batch, "seconds": sec,
        "tokens_per_s": a.batch * a.new_tokens / sec,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "blas": blas_in_use(), "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
