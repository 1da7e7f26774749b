"""PyTorch eager reference for `keel bench`: the same work Keel does, timed the same way.

Runs with Debian's python3-torch (`/usr/bin/python3`), never as a Keel runtime dependency. Loads the
checkpoint Keel wrote (hand-written safetensors reader in scripts/reference/hf_reference.py), so both sides
run identical weights and shapes. The model code follows transformers' eager Llama path
(modeling_llama.py: LlamaRMSNorm, rotate_half, repeat_kv, eager_attention_forward, LlamaMLP) with a KV cache
as transformers' DynamicCache (concatenation along the sequence).

Cases: `generate` (greedy decoding with a KV cache), `sft` / `dpo` (one GPT-2 training step), and `ppo` (one
iteration of TRL's PPOTrainer at a fixed shape: sampled rollout with a KV cache, scoring (the policy's
log-probs from the generation's logits, passes of the reference, value and reward models, GAE), then the clipped-surrogate update over mini-batches; each phase is
timed on its own).

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


def mapped_files():
    """The text of /proc/self/maps: which shared libraries this process has loaded."""
    with open("/proc/self/maps") as f:
        return f.read()


def huge_pages_mb():
    """MB of this process's anonymous memory in transparent huge pages (AnonHugePages of /proc/self/smaps_rollup;
    0 when the kernel gave none). PyTorch 1.13 never asks for them; a libtorch 2.x asks under THP_MEM_ALLOC_ENABLE=1,
    and a kernel set to 'always' gives them unasked."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def process_setup():
    """What every case reports besides its numbers: this process's peak resident memory and how it ran (BLAS,
    allocator, OpenBLAS kernels, huge pages, PyTorch version, threads). Call it last: the peak is the one so far."""
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "blas": blas_in_use(), "malloc": malloc_in_use(), "openblas_core": openblas_core(),
            "huge_pages_mb": huge_pages_mb(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def blas_in_use():
    """'openblas', 'reference' (netlib libblas) or 'unknown', from the libraries mapped into this process."""
    torch.matmul(torch.ones(64, 64), torch.ones(64, 64))
    maps = mapped_files()
    if "openblas" in maps:
        return "openblas"
    if "libblas.so" in maps or "/blas/" in maps:
        return "reference"
    if "mkl" in maps:
        return "mkl"
    return "unknown"


def malloc_in_use():
    """'tcmalloc', 'jemalloc' or 'glibc': the allocator mapped into this process (LD_PRELOAD changes it)."""
    maps = mapped_files()
    for name in ("tcmalloc", "jemalloc"):
        if name in maps:
            return name
    return "glibc"


def openblas_core(paths=None):
    """The kernel set OpenBLAS chose (openblas_get_corename), or 'unknown': of the OpenBLAS mapped into this
    process, or of the library files given (loaded here with this process's environment and CPU, which is what
    decides the choice)."""
    import ctypes
    if paths is None:
        paths = sorted({line.split()[-1] for line in mapped_files().splitlines()
                        if "openblas" in line and line.split()[-1].startswith("/")})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


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

    sec = median_step_seconds(step, a.repeats)
    print(json.dumps({
        "case": a.case, "batch": a.batch, "seconds": sec, "tokens_per_s": rows * a.seq / sec,
        **process_setup(),
    }))


WARMUP_STEPS = 2  # as Keel's TrainBench.WARMUP_STEPS


def median_step_seconds(step, repeats):
    """The median time of `repeats` calls of step() after WARMUP_STEPS untimed ones (the first allocates the optimizer
    state, the second still grows the heap), as Keel's TrainBench.medianStepSeconds."""
    for _ in range(WARMUP_STEPS):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fastest_run_seconds(run, repeats, warmup):
    """The fastest of `repeats` timed calls of run() after `warmup` untimed ones (Keel's generation timing)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def selective_log_softmax(logits, index):
    """TRL's selective_log_softmax for float32: the picked logit minus logsumexp, no full log-softmax."""
    return logits.gather(-1, index.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


class Llama(torch.nn.Module):
    """Batched Llama (modeling_llama.py eager path) with trainable parameters and an optional KV cache.

    forward returns the hidden states after the final RMSNorm; lm_logits (lm_head.weight, or the tied
    embed_tokens.weight: one parameter) or score (LlamaForSequenceClassification's score.weight, one value per
    position) goes on top. No padding: every row has the same length.
    """

    def __init__(self, directory, trainable=True):
        super().__init__()
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = json.load(f)
        c = self.cfg
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads") or self.H
        self.D = c.get("head_dim") or c["hidden_size"] // self.H
        self.L = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.inv_freq = ref.rope_inv_freq(c, self.D)[0]
        self.p = torch.nn.ParameterDict()
        for name, v in ref.load_checkpoint(directory).items():
            name = name[len("model."):] if name.startswith("model.") else name
            if "rotary_emb" in name:
                continue
            self.p[name.replace(".", "__")] = torch.nn.Parameter(v.float().clone(), requires_grad=trainable)

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def _lin(self, x, name):
        b = self.p[name.replace(".", "__") + "__bias"] if name.replace(".", "__") + "__bias" in self.p else None
        return torch.nn.functional.linear(x, self.w(name + ".weight"), b)

    def _rms(self, x, name):
        """LlamaRMSNorm: in float32, then back to the input's dtype."""
        x32 = x.float()
        var = x32.pow(2).mean(-1, keepdim=True)
        return self.w(name) * (x32 * torch.rsqrt(var + self.eps)).to(x.dtype)

    def forward(self, ids, start=0, cache=None):
        """ids [B, T] at positions start..start+T-1 -> normed hidden states [B, T, d].

        cache: None (full causal forward), or a list of (k, v) per layer (Nones at first) that is extended."""
        B, T = ids.shape
        pos = torch.arange(start, start + T, dtype=torch.int64).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        S = start + T if cache is not None else T
        causal = torch.ones(T, S, dtype=torch.bool).tril(S - T) if T > 1 else None
        h = torch.nn.functional.embedding(ids, self.w("embed_tokens.weight"))
        cos, sin = emb.cos().to(h.dtype), emb.sin().to(h.dtype)  # as transformers: in the weights' dtype
        for i in range(self.L):
            h = self.layer(h, i, cos, sin, causal, cache)
        return self._rms(h, "norm.weight")

    def layer(self, h, i, cos, sin, causal, cache):
        """Decoder layer i on hidden states h [B, T, d] (cache as in forward)."""
        B, T = h.shape[0], h.shape[1]
        H, KV, D = self.H, self.KV, self.D
        p = "layers.%d" % i
        x = self._rms(h, p + ".input_layernorm.weight")
        q = self._lin(x, p + ".self_attn.q_proj").view(B, T, H, D).transpose(1, 2)
        k = self._lin(x, p + ".self_attn.k_proj").view(B, T, KV, D).transpose(1, 2)
        v = self._lin(x, p + ".self_attn.v_proj").view(B, T, KV, D).transpose(1, 2)
        q = q * cos + ref.rotate_half(q) * sin
        k = k * cos + ref.rotate_half(k) * sin
        if cache is not None:
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k), dim=2)
                v = torch.cat((cache[i][1], v), dim=2)
            cache[i] = (k, v)
        if H != KV:
            k = k.repeat_interleave(H // KV, dim=1)
            v = v.repeat_interleave(H // KV, dim=1)
        a = torch.matmul(q, k.transpose(-1, -2)) * D ** -0.5
        if causal is not None:
            a = a.masked_fill(~causal, torch.finfo(a.dtype).min)
        a = torch.softmax(a, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(a, v).transpose(1, 2).reshape(B, T, H * D)
        h = h + self._lin(a, p + ".self_attn.o_proj")
        x = self._rms(h, p + ".post_attention_layernorm.weight")
        mm = torch.nn.functional.silu(self._lin(x, p + ".mlp.gate_proj")) * self._lin(x, p + ".mlp.up_proj")
        h = h + self._lin(mm, p + ".mlp.down_proj")
        return h

    def lm_logits(self, h):
        if "lm_head__weight" not in self.p and not self.cfg.get("tie_word_embeddings", False):
            raise ValueError("lm_head.weight missing and tie_word_embeddings is false")
        head = self.w("lm_head.weight") if "lm_head__weight" in self.p else self.w("embed_tokens.weight")
        return h @ head.t()

    def score(self, h):
        return (h @ self.w("score.weight").t()).squeeze(-1)


@torch.no_grad()
def greedy(model, prompts, new_tokens, first_token_at=None):
    """Greedy decoding with the KV cache: argmax of the logits, new_tokens per prompt, no EOS; like Keel, no
    forward pass after the last token. Appends time.perf_counter() to first_token_at, when given, once the first
    token is picked."""
    cache = [None] * model.L
    h = model(prompts, 0, cache)[:, -1]
    start = prompts.shape[1]
    out = []
    for i in range(new_tokens):
        tok = model.lm_logits(h).argmax(-1, keepdim=True)
        if i == 0 and first_token_at is not None:
            first_token_at.append(time.perf_counter())
        out.append(tok)
        if i + 1 < new_tokens:
            h = model(tok, start, cache)[:, -1]
            start += 1
    return torch.cat(out, dim=1)


class PPO:
    """One PPO iteration as TRL's PPOTrainer (k1 KL penalty, GAE, whitened advantages, clipped surrogate and
    clipped value loss), no padding and no EOS: equal-length prompts and responses of exactly R tokens.

    policy and value are trainable (one AdamW over both); reference and reward are frozen. State carries over
    between iterations, like a real run."""

    gamma, lam, cliprange, cliprange_value, vf_coef = 1.0, 0.95, 0.2, 0.2, 0.1

    def __init__(self, a, prompts):
        self.a = a
        self.prompts = prompts
        self.policy = Llama(a.model, trainable=True)
        self.ref_model = Llama(a.model, trainable=False)
        self.value = Llama(a.reward_model, trainable=True)
        self.reward = Llama(a.reward_model, trainable=False)
        self.params = list(self.policy.parameters()) + list(self.value.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=a.lr, weight_decay=0.0)
        self.sample_gen = torch.Generator().manual_seed(a.seed)
        self.shuffle_gen = torch.Generator().manual_seed(a.seed + 1)

    @torch.no_grad()
    def rollout(self):
        """R sampled tokens per prompt, KV cache, policy's current weights: softmax(logits / T), multinomial.

        Returns (responses [B, R], the logits / T each token was drawn from [B, R, V]), as TRL's batch_generation
        returns the generation's scores."""
        pol, T = self.policy, self.a.temperature
        cache = [None] * pol.L
        h = pol(self.prompts, 0, cache)[:, -1]
        start = self.prompts.shape[1]
        out, scores = [], []
        for i in range(self.a.new_tokens):
            logits = pol.lm_logits(h) / T
            scores.append(logits)
            tok = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=self.sample_gen)
            out.append(tok)
            if i + 1 < self.a.new_tokens:
                h = pol(tok, start, cache)[:, -1]
                start += 1
        return torch.cat(out, dim=1), torch.stack(scores, 1)

    def logprobs(self, model, seq, responses, P):
        """(log-probs of the response tokens [B, R], the temperature-scaled logits they come from)."""
        logits = model.lm_logits(model(seq)[:, P - 1:-1]) / self.a.temperature
        return selective_log_softmax(logits, responses), logits

    @torch.no_grad()
    def scoring(self, responses, logitss):
        """As PPOTrainer.train: the policy's log-probs from the generation's logits (no pass of the policy), then
        passes of the reference, the value model and the reward model over the sequences."""
        P, R = self.prompts.shape[1], responses.shape[1]
        seq = torch.cat((self.prompts, responses), dim=1)
        logp = selective_log_softmax(logitss, responses)
        ref_logp = self.logprobs(self.ref_model, seq, responses, P)[0]
        values = self.value.score(self.value(seq)[:, P - 1:-1])
        score = self.reward.score(self.reward(seq)[:, -1])
        kl = logp - ref_logp  # k1
        non_score_reward = -self.a.kl_coef * kl
        rewards = non_score_reward.clone()
        rewards[:, R - 1] += score  # every response is full length
        lastgaelam, rev = 0.0, []
        for t in reversed(range(R)):
            nextvalues = values[:, t + 1] if t < R - 1 else 0.0
            delta = rewards[:, t] + self.gamma * nextvalues - values[:, t]
            lastgaelam = delta + self.gamma * self.lam * lastgaelam
            rev.append(lastgaelam)
        advantages = torch.stack(rev[::-1], dim=1)
        returns = advantages + values
        # masked_whiten (all-true mask), unbiased variance, shift_mean=True
        mean = advantages.mean()
        var = (advantages - mean).pow(2).mean() * (advantages.numel() / (advantages.numel() - 1))
        advantages = (advantages - mean) * torch.rsqrt(var + 1e-8)
        stats = {"kl": kl.sum(1).mean().item(), "entropy": (-logp).sum(1).mean().item(),
                 "score": score.mean().item()}
        return {"seq": seq, "responses": responses, "logp": logp, "values": values,
                "advantages": advantages, "returns": returns, "stats": stats}

    def update(self, b):
        """ppo-epochs passes over shuffled mini-batches; returns the per-mini-batch stats TRL logs."""
        a, P, B = self.a, self.prompts.shape[1], b["seq"].shape[0]
        out = []
        for _ in range(a.ppo_epochs):
            perm = torch.randperm(B, generator=self.shuffle_gen)
            for s in range(0, B, a.mini_batch):
                idx = perm[s:s + a.mini_batch]
                seq, old, vold = b["seq"][idx], b["logp"][idx], b["values"][idx]
                adv, ret = b["advantages"][idx], b["returns"][idx]
                new, logits = self.logprobs(self.policy, seq, b["responses"][idx], P)
                vpred = self.value.score(self.value(seq)[:, P - 1:-1])
                vpredclipped = torch.clamp(vpred, vold - self.cliprange_value, vold + self.cliprange_value)
                vf_loss = 0.5 * torch.max((vpred - ret) ** 2, (vpredclipped - ret) ** 2).mean()
                diff = new - old
                ratio = torch.exp(diff)
                pg1 = -adv * ratio
                pg2 = -adv * torch.clamp(ratio, 1.0 - self.cliprange, 1.0 + self.cliprange)
                pg_loss = torch.max(pg1, pg2).mean()
                loss = pg_loss + self.vf_coef * vf_loss
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, 1.0)
                self.opt.step()
                with torch.no_grad():
                    logits = logits.detach()
                    prob = torch.softmax(logits, dim=-1)
                    entropy = torch.logsumexp(logits, dim=-1) - (prob * logits).sum(-1)
                    out.append({
                        "entropy": entropy.mean().item(),
                        "approxkl": (0.5 * diff.detach().pow(2).mean()).item(),
                        "clipfrac": (pg2 > pg1).float().mean().item(),
                        "ratio": ratio.detach().mean().item(),
                        "loss": loss.detach(),  # no item(): kept for checks only
                    })
        return out

    def iteration(self):
        """(rollout_s, scoring_s, update_s, scoring stats, update stats)"""
        t0 = time.perf_counter()
        responses, logitss = self.rollout()
        t1 = time.perf_counter()
        b = self.scoring(responses, logitss)
        t2 = time.perf_counter()
        st = self.update(b)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, b["stats"], st


def ppo_case(a):
    with open(a.prompts) as f:
        prompts = torch.tensor(json.load(f), dtype=torch.int64)
    if prompts.dim() != 2:
        raise ValueError("--prompts must be a JSON list of equal-length lists of token ids")
    ppo = PPO(a, prompts)
    limit = ppo.policy.cfg.get("max_position_embeddings")
    if limit is not None and prompts.shape[1] + a.new_tokens > limit:
        raise ValueError("prompt length + new tokens exceeds max_position_embeddings")
    for _ in range(a.warmup):  # untimed, as Keel's PpoBench.WARMUP
        ppo.iteration()
    runs = [ppo.iteration()[:3] for _ in range(a.repeats)]
    roll, scoring, upd = (statistics.median(r[i] for r in runs) for i in range(3))
    sec = roll + scoring + upd
    B = prompts.shape[0]
    print(json.dumps({
        "case": "ppo", "batch": B, "rollout_s": roll, "scoring_s": scoring, "update_s": upd,
        "seconds": sec, "tokens_per_s": B * a.new_tokens / sec,
        **process_setup(),
    }))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=["generate", "sft", "dpo", "ppo", "corename"])
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--model", help="required except for corename")
    ap.add_argument("--lib", help="corename: the OpenBLAS library file whose kernel family to report")
    ap.add_argument("--batch", type=int, help="required except for ppo (batch = number of prompts)")
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=1, help="generate and ppo: untimed runs (iterations) first")
    # ppo
    ap.add_argument("--reward-model", help="ppo: LlamaForSequenceClassification dir (value model init + reward)")
    ap.add_argument("--prompts", help="ppo: JSON list of equal-length lists of token ids")
    ap.add_argument("--mini-batch", type=int, default=8)
    ap.add_argument("--ppo-epochs", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--kl-coef", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=1e-6, help="ppo only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.case == "corename":
        if not a.lib:
            ap.error("--case corename needs --lib")
        print(json.dumps({"case": "corename", "lib": a.lib, "openblas_core": openblas_core([a.lib])}))
        return
    if not a.model:
        ap.error("--model is required for --case " + a.case)
    if a.case == "ppo":
        if not a.reward_model or not a.prompts:
            ap.error("--case ppo needs --reward-model and --prompts")
        ppo_case(a)
        return
    if a.batch is None:
        ap.error("--batch is required for --case " + a.case)
    if a.case in ("sft", "dpo"):
        train_case(a)
        return
    model = Llama(a.model, trainable=False)
    g = torch.Generator().manual_seed(a.seed)
    vocab = model.cfg["vocab_size"]
    prompts = torch.randint(3, vocab, (a.batch, a.prompt_len), generator=g)
    # the fastest run, as Keel reports for generation
    sec = fastest_run_seconds(lambda: greedy(model, prompts, a.new_tokens), a.repeats, a.warmup)
    print(json.dumps({
        "case": a.case, "batch": a.batch, "seconds": sec,
        "tokens_per_s": a.batch * a.new_tokens / sec,
        **process_setup(),
    }))


if __name__ == "__main__":
    main()
