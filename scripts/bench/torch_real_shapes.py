"""PyTorch eager reference for `keel bench real`: a DPO step and decoding at real model shapes.

Runs with Debian's python3-torch (`/usr/bin/python3`), a benchmark reference only. Loads the checkpoint Keel
wrote (random weights at a published config.json's shape) into torch_reference.py's Llama (transformers' eager
Llama path), and times, the way Keel's side is timed:

- `--case dpo`: one DPO train step over `--pairs` pairs of `--seq` tokens with precomputed reference
  log-probs (TRL's precompute_ref_log_probs), in one of the modes Keel has: full fine-tuning in float32, or LoRA
  written in plain PyTorch as PEFT's Linear does it (h = W x + (alpha / r) B A x, A Kaiming-uniform, B zero, base
  frozen), with `--bf16` (torch.autocast on the CPU, bfloat16) and `--checkpointing`
  (torch.utils.checkpoint around every decoder layer); AdamW over the trained parameters.
- `--case generate`: greedy decoding with a KV cache, float32 or `--bf16-weights`; also the fastest run's
  time to its first token, and its decoding rate after it: batch (new tokens - 1) / (seconds - first token).

Prints one JSON object with the median step time (or the fastest generation), tokens/s and the peak RSS of
the process.
"""

import argparse
import json
import math
import time

import torch
import torch.utils.checkpoint

import torch_reference as tr

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraLlama(tr.Llama):
    """Llama with PEFT-style LoRA adapters on every linear of the decoder layers; the base frozen."""

    def __init__(self, directory, r, alpha, checkpointing):
        super().__init__(directory, trainable=r == 0)
        self.r, self.scaling, self.checkpointing = r, alpha / r if r else 0.0, checkpointing
        self.lora = torch.nn.ParameterDict()
        if r:
            for name, w in list(self.p.items()):
                if name.endswith("__weight") and name.split("__")[-2] in LORA_TARGETS:
                    a = torch.empty(r, w.shape[1])
                    torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # nn.Linear's init, as PEFT's lora_A
                    self.lora[name[:-len("__weight")] + "__A"] = torch.nn.Parameter(a)
                    self.lora[name[:-len("__weight")] + "__B"] = torch.nn.Parameter(torch.zeros(w.shape[0], r))

    def _lin(self, x, name):
        out = super()._lin(x, name)
        key = name.replace(".", "__")
        if key + "__A" in self.lora:
            out = out + self.scaling * torch.nn.functional.linear(
                torch.nn.functional.linear(x, self.lora[key + "__A"]), self.lora[key + "__B"])
        return out

    def layer(self, h, i, cos, sin, causal, cache):
        if self.checkpointing and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(super().layer, h, i, cos, sin, causal, cache,
                                                     use_reentrant=False)
        return super().layer(h, i, cos, sin, causal, cache)

    def trained(self):
        return list(self.lora.values()) if self.r else list(self.p.values())


def dpo_case(a):
    model = LoraLlama(a.model, a.lora_r, a.lora_alpha, a.checkpointing)
    vocab = model.cfg["vocab_size"]
    g = torch.Generator().manual_seed(a.seed)
    ids = torch.randint(0, vocab, (2 * a.pairs, a.seq), generator=g)
    half = a.seq // 2
    params = model.trained()
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model.lm_logits(model(ids)[:, :-1])
        logits = logits.float()
        lp = tr.selective_log_softmax(logits, ids[:, 1:])
        s = lp[:, half - 1:].sum(-1)
        c, r = s[: a.pairs] + 400, s[a.pairs:] + 410  # precomputed reference log-probs
        loss = -torch.nn.functional.logsigmoid(0.1 * (c - r)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    sec = tr.median_step_seconds(step, a.repeats)
    report(a, {"seconds": sec, "tokens_per_s": 2 * a.pairs * a.seq / sec,
               "trained_params": sum(p.numel() for p in params)})


def generate_case(a):
    model = tr.Llama(a.model, trainable=False)
    if a.bf16_weights:
        model = model.to(torch.bfloat16)
    g = torch.Generator().manual_seed(a.seed)
    prompts = torch.randint(3, model.cfg["vocab_size"], (a.batch, a.prompt_len), generator=g)
    tr.greedy(model, prompts, a.new_tokens)  # warm-up, as Keel's
    # the fastest run, and that run's time to its first token (the prompt's forward pass and the first pick), as
    # Keel times them: decoding is what follows
    sec, first = math.inf, math.nan
    for _ in range(a.repeats):
        marks = []
        t0 = time.perf_counter()
        tr.greedy(model, prompts, a.new_tokens, marks)
        s = time.perf_counter() - t0
        if s < sec:
            sec, first = s, marks[0] - t0
    rest = sec - first
    decode = a.batch * (a.new_tokens - 1) / rest if a.new_tokens > 1 and rest > 0 else None
    report(a, {"seconds": sec, "tokens_per_s": a.batch * a.new_tokens / sec, "first_token_s": first,
               "decode_tokens_per_s": decode})


def report(a, numbers):
    out = {"case": a.case, **tr.process_setup()}
    out.update(numbers)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=["dpo", "generate"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seq", type=int, default=256, help="dpo: tokens per sequence")
    ap.add_argument("--pairs", type=int, default=2, help="dpo: preference pairs per step")
    ap.add_argument("--lora-r", type=int, default=0, help="dpo: LoRA rank (0: full fine-tuning)")
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--bf16", action="store_true", help="dpo: torch.autocast(cpu, bfloat16)")
    ap.add_argument("--checkpointing", action="store_true", help="dpo: checkpoint every decoder layer")
    ap.add_argument("--batch", type=int, default=1, help="generate: rows")
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--bf16-weights", action="store_true", help="generate: weights in bfloat16")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    (dpo_case if a.case == "dpo" else generate_case)(a)


if __name__ == "__main__":
    main()
