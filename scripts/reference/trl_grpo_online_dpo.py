#!/usr/bin/env python3
"""TRL parity fixture for Keel's GRPO loss types and advantages, and online DPO's loss (docs/ALGORITHMS.md §5.2, §5.3).

Plain PyTorch, no TRL import: TRL's code transcribed with `self.` turned into arguments, on one fixed batch. Writes
src/test/fixtures/losses/trl_grpo_online_dpo.json, which dev.keel.loss.TrlGrpoParityTest and
dev.keel.train.rl.TrlOnlineDpoParityTest compare with Keel to 1e-6.

TRL sources read (huggingface/trl, as stored in the code index):
  trl/trainer/grpo_trainer.py        GRPOTrainer._generate_and_score_completions (advantages, scale_rewards),
                                     GRPOTrainer._compute_loss (per_token_kl, coef_1/coef_2, loss_type)
  trl/trainer/online_dpo_trainer.py  OnlineDPOTrainer.training_step (first_half >= second_half, sums, sigmoid/ipo)

Run with Debian's PyTorch (apt-get install python3-torch):
  OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/trl_grpo_online_dpo.py
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "fixtures", "losses",
                   "trl_grpo_online_dpo.json")

# four completions of up to 4 tokens: two prompts, two samples each (prompt-major), float32
LOGPS = [[-0.5, -1.0, -0.2, -2.0], [-1.5, -0.3, 0.0, 0.0], [-0.1, -0.9, -1.1, 0.0], [-2.5, -0.4, -0.6, -0.8]]
OLD = [[-0.6, -0.8, -0.2, -2.4], [-1.2, -0.5, 0.0, 0.0], [-0.3, -0.9, -0.7, 0.0], [-2.0, -0.4, -0.9, -0.5]]
REF = [[-0.7, -1.1, -0.1, -1.9], [-1.4, -0.6, 0.0, 0.0], [-0.2, -1.0, -1.0, 0.0], [-2.2, -0.7, -0.5, -0.9]]
MASK = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
REWARDS = [1.0, 0.0, 0.5, 2.0]
G = 2
MAX_COMPLETION_LENGTH = 6


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def advantages(rewards, num_generations, scale_rewards):
    mean_grouped_rewards = rewards.view(-1, num_generations).mean(dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    advantages = rewards - mean_grouped_rewards
    if scale_rewards in ["group", "none"]:
        std_rewards = rewards.view(-1, num_generations).std(dim=1)
        std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
    elif scale_rewards == "batch":
        std_rewards = rewards.std().expand_as(rewards)
    if scale_rewards != "none":
        advantages = advantages / (std_rewards + 1e-4)
    return advantages


def grpo_loss(per_token_logps, old_per_token_logps, ref_per_token_logps, advantages, completion_mask, beta,
              epsilon_low, epsilon_high, loss_type, max_completion_length):
    per_token_kl = torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
    coef_1 = torch.exp(per_token_logps - old_per_token_logps)
    coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)
    per_token_loss1 = coef_1 * advantages.unsqueeze(1)
    per_token_loss2 = coef_2 * advantages.unsqueeze(1)
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token_loss * completion_mask).sum(-1) / completion_mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token_loss * completion_mask).sum() / completion_mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * completion_mask).sum() / (per_token_loss.size(0) * max_completion_length)
    elif loss_type == "dapo":
        num_items_in_batch = completion_mask.sum()  # one process, one micro-batch per step
        loss = (per_token_loss * completion_mask).sum() / num_items_in_batch
    return loss


def grpo_case(scale_rewards, loss_type, beta, epsilon_low, epsilon_high):
    adv = advantages(t(REWARDS), G, scale_rewards)
    loss = grpo_loss(t(LOGPS), t(OLD), t(REF), adv, t(MASK), beta, epsilon_low, epsilon_high, loss_type,
                     MAX_COMPLETION_LENGTH)
    return {"scale_rewards": scale_rewards, "loss_type": loss_type, "beta": beta, "epsilon_low": epsilon_low,
            "epsilon_high": epsilon_high, "advantages": adv.tolist(), "loss": loss.item()}


def online_dpo_case(loss_type, beta):
    # TRL lays the two samples out in halves (all first samples, then all second); Keel's rows are prompt-major
    logprobs, ref_logprobs, completion_mask, rewards = t(LOGPS), t(REF), t(MASK), t(REWARDS)
    order = [0, 2, 1, 3]  # prompt-major rows -> TRL's halves
    logprobs, ref_logprobs, completion_mask, rewards = (x[order] for x in (logprobs, ref_logprobs, completion_mask,
                                                                            rewards))
    batch_size = 2
    first_half, second_half = rewards.split(batch_size)
    mask = first_half >= second_half
    batch_range = torch.arange(batch_size)
    chosen_indices = batch_range + (~mask * batch_size)
    rejected_indices = batch_range + (mask * batch_size)
    cr_indices = torch.cat((chosen_indices, rejected_indices), dim=0)
    cr_logprobs = logprobs[cr_indices]
    cr_ref_logprobs = ref_logprobs[cr_indices]
    padding_mask = ~completion_mask.bool()
    cr_padding_mask = padding_mask[cr_indices]
    cr_logprobs_sum = (cr_logprobs * ~cr_padding_mask).sum(1)
    cr_ref_logprobs_sum = (cr_ref_logprobs * ~cr_padding_mask).sum(1)
    chosen_logprobs_sum, rejected_logprobs_sum = torch.split(cr_logprobs_sum, batch_size)
    chosen_ref_logprobs_sum, rejected_ref_logprobs_sum = torch.split(cr_ref_logprobs_sum, batch_size)
    pi_logratios = chosen_logprobs_sum - rejected_logprobs_sum
    ref_logratios = chosen_ref_logprobs_sum - rejected_ref_logprobs_sum
    logits = pi_logratios - ref_logratios
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    chosen_rewards = beta * (chosen_logprobs_sum - chosen_ref_logprobs_sum)
    rejected_rewards = beta * (rejected_logprobs_sum - rejected_ref_logprobs_sum)
    return {"loss_type": loss_type, "beta": beta, "loss": losses.mean().item(),
            "margin": (chosen_rewards - rejected_rewards).mean().item()}


def main():
    out = {
        "_source": "scripts/reference/trl_grpo_online_dpo.py (TRL's code in plain PyTorch " + torch.__version__
                   + ", float32)",
        "logps": LOGPS, "old": OLD, "ref": REF, "mask": MASK, "rewards": REWARDS, "num_generations": G,
        "max_completion_length": MAX_COMPLETION_LENGTH,
        "grpo": [grpo_case(s, lt, b, 0.2, eh) for s in ["group", "batch", "none"]
                 for lt in ["grpo", "bnpo", "dr_grpo", "dapo"] for (b, eh) in [(0.0, 0.2), (0.04, 0.28)]],
        "online_dpo": [online_dpo_case("sigmoid", 0.1), online_dpo_case("ipo", 0.1), online_dpo_case("sigmoid", 1.0)],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
