"""Write LoRA adapters in PEFT's checkpoint format over two parity fixtures, with reference logits.

    OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/make_lora_fixtures.py

Writes src/test/fixtures/lora/<name>/{adapter_config.json, adapter_model.safetensors, reference.json}.
Deterministic. No PEFT needed: the files follow PEFT's documented format (docs/source/developer_guides/
checkpoint.md: tensors "base_model.model.<module>.lora_A.weight" (r, in) and "...lora_B.weight" (out, r), the
adapter name stripped; adapter_config.json as LoraConfig.save_pretrained writes it, keys sorted), and the reference
logits come from the base weights with each adapter merged as PEFT's LoraLayer.get_delta_weight computes it:
transpose(B @ A, fan_in_fan_out) * scaling, scaling = lora_alpha / r (or / sqrt(r) with use_rslora).
"""

import json
import math
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARITY = os.path.join(ROOT, "src", "test", "fixtures", "parity")
OUT = os.path.join(ROOT, "src", "test", "fixtures", "lora")

# name, base parity fixture, module prefix of the ...ForCausalLM class, targets, r, alpha, rslora, fan_in_fan_out
SPECS = [
    ("gpt2-c_attn-c_fc", "gpt2-tiny", "transformer.", ["c_attn", "c_fc"], 4, 8, False, True),
    ("llama3-q-v-down-rslora", "llama3-rope-sharded", "model.", ["q_proj", "v_proj", "down_proj"], 4, 16, True, False),
]


def config(base, targets, r, alpha, rslora, fan_in_fan_out):
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base, "bias": "none",
        "fan_in_fan_out": fan_in_fan_out, "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": alpha, "lora_dropout": 0.1, "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None,
        "target_modules": targets, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora,
    }


def write(name, base, prefix, targets, r, alpha, rslora, fan_in_fan_out, seed):
    g = torch.Generator().manual_seed(seed)
    tensors = R.load_checkpoint(os.path.join(PARITY, base))
    with open(os.path.join(PARITY, base, "config.json")) as f:
        cfg = json.load(f)
    scaling = alpha / math.sqrt(r) if rslora else alpha / r
    adapter, merged = {}, dict(tensors)
    for key, w in tensors.items():
        module = key[: -len(".weight")] if key.endswith(".weight") else None
        if module is None or w.dim() != 2 or module.split(".")[-1] not in targets:
            continue
        fan_in, fan_out = (w.shape[0], w.shape[1]) if fan_in_fan_out else (w.shape[1], w.shape[0])
        a = torch.randn(r, fan_in, generator=g) * 0.3      # as after training: B is no longer zero
        b = torch.randn(fan_out, r, generator=g) * 0.3
        path = module if module.startswith(prefix) else prefix + module
        adapter["base_model.model." + path + ".lora_A.weight"] = a
        adapter["base_model.model." + path + ".lora_B.weight"] = b
        delta = b @ a
        merged[key] = (w.float() + (delta.t() if fan_in_fan_out else delta) * scaling).to(w.dtype)
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config(base, targets, r, alpha, rslora, fan_in_fan_out), indent=2, sort_keys=True) + "\n")
    R.save_safetensors(adapter, os.path.join(d, "adapter_model.safetensors"), {"format": "pt"})
    with open(os.path.join(PARITY, base, "reference.json")) as f:
        ids = json.load(f)["input_ids"]
    model = R.build_model(cfg, merged)
    ref = {"base": base, "input_ids": ids,
           "logits": [[[float(x) for x in row] for row in R.logits(model, s).tolist()] for s in ids]}
    with open(os.path.join(d, "reference.json"), "w") as f:
        f.write(json.dumps(ref, separators=(",", ":")) + "\n")
    print("%-24s over %-20s %d adapter tensors, scaling %.3f" % (name, base, len(adapter), scaling))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for i, spec in enumerate(SPECS):
        write(*spec, seed=100 + i)


if __name__ == "__main__":
    main()
