#!/usr/bin/env python3
"""TRL parity fixture for Keel's KTO, ORPO and CPO/SimPO losses (docs/ALGORITHMS.md §3.1-§3.3).

Plain PyTorch, no TRL import: each function below is TRL's loss code transcribed line for line, with `self.`
turned into arguments. It runs on a fixed batch of per-token log-probabilities and writes
src/test/fixtures/losses/trl_losses.json, which dev.keel.loss.TrlLossParityTest compares with Keel to 1e-6.

TRL sources read (huggingface/trl, as stored in the code index):
  trl/trainer/kto_trainer.py   KTOTrainer.kto_loss, get_batch_loss_metrics, _get_kl_dataset   (2025)
  trl/trainer/orpo_trainer.py  ORPOTrainer.odds_ratio_loss, concatenated_forward, get_batch_loss_metrics
  trl/trainer/cpo_trainer.py   CPOTrainer.cpo_loss, concatenated_forward, get_batch_loss_metrics   (2025)

Run with Debian's PyTorch (apt-get install python3-torch):
  OMP_NUM_THREADS=1 /usr/bin/python3 scripts/reference/trl_losses.py
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "fixtures", "losses", "trl_losses.json")

# ---- the fixed batch: per-token log-probs (B, T) and completion masks, float32 -------------------------------------
# Pairs (ORPO, CPO): 4 chosen and 4 rejected completions of 2..5 tokens.
CHOSEN_TOKENS = [[-0.3, -1.2, -0.05, -2.0, -0.7], [-1.5, -0.9, 0.0, 0.0, 0.0],
                 [-0.01, -0.02, -0.4, 0.0, 0.0], [-3.1, -0.6, -0.8, -1.1, 0.0]]
CHOSEN_MASK = [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]
REJECTED_TOKENS = [[-2.2, -0.4, -1.7, 0.0, 0.0], [-0.2, -0.3, -0.25, -0.1, -0.6],
                   [-4.0, -2.5, 0.0, 0.0, 0.0], [-0.9, -1.3, -0.2, -0.05, 0.0]]
REJECTED_MASK = [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]]

# KTO: 6 unpaired examples (summed completion log-probs), their labels, the reference's log-probs, and the
# log-probs of the 6 mismatched pairs of the batch under the policy and the reference.
KTO_POLICY = [-12.5, -8.25, -20.0, -5.5, -15.75, -9.0]
KTO_REFERENCE = [-12.0, -9.0, -19.0, -6.5, -15.0, -9.5]
KTO_LABEL = [True, False, True, True, False, False]
KTO_POLICY_KL = [-30.0, -25.5, -41.0, -18.0, -22.25, -35.5]
KTO_REFERENCE_KL = [-30.5, -25.0, -42.0, -18.5, -22.0, -36.0]
# a second batch whose KL estimate is negative, to check the clamp at 0
KTO_REFERENCE_KL_NEG = [-29.0, -24.0, -40.0, -17.0, -21.0, -34.0]


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def get_batch_logps(per_token_logps, loss_mask, average_log_prob):
    """TRL get_batch_logps after selective_log_softmax: masked sum, or masked mean per sequence."""
    if average_log_prob:
        return (per_token_logps * loss_mask).sum(-1) / loss_mask.sum(-1)
    return (per_token_logps * loss_mask).sum(-1)


def chosen_nll(per_token_logps, loss_mask):
    """nn.CrossEntropyLoss() over the chosen rows with prompt and padding labels at -100: the token mean of -log p."""
    return -(per_token_logps * loss_mask).sum() / loss_mask.sum()


# ---- KTO: KTOTrainer.kto_loss (loss_type "kto") and get_batch_loss_metrics ------------------------------------------
def kto_loss(policy_chosen_logps, policy_rejected_logps, policy_KL_logps, reference_chosen_logps,
             reference_rejected_logps, reference_KL_logps, beta, desirable_weight, undesirable_weight):
    kl = (policy_KL_logps - reference_KL_logps).mean().detach()
    kl = kl.mean().clamp(min=0)  # gather_for_metrics over one process is the identity
    chosen_logratios = policy_chosen_logps - reference_chosen_logps
    # Eqn (7) of the KTO paper
    chosen_losses = 1 - F.sigmoid(beta * (chosen_logratios - kl))
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_logratios = policy_rejected_logps - reference_rejected_logps
    rejected_losses = 1 - F.sigmoid(beta * (kl - rejected_logratios))
    rejected_rewards = beta * rejected_logratios.detach()
    losses = torch.cat((desirable_weight * chosen_losses, undesirable_weight * rejected_losses), 0)
    return losses, chosen_rewards, rejected_rewards, kl


def kto_case(beta, dw, uw, ref_kl):
    label = KTO_LABEL
    ci = [i for i in range(len(label)) if label[i] is True]
    ri = [i for i in range(len(label)) if label[i] is False]
    p, r = t(KTO_POLICY), t(KTO_REFERENCE)
    losses, cr, rr, kl = kto_loss(p[ci], p[ri], t(KTO_POLICY_KL), r[ci], r[ri], t(ref_kl), beta, dw, uw)
    return {"beta": beta, "desirable_weight": dw, "undesirable_weight": uw, "reference_kl": ref_kl,
            "loss": losses.nanmean().item(), "losses_chosen_then_rejected": losses.tolist(),
            "chosen_rewards": cr.tolist(), "rejected_rewards": rr.tolist(), "kl": kl.item()}


# ---- ORPO: ORPOTrainer.odds_ratio_loss and get_batch_loss_metrics ---------------------------------------------------
def odds_ratio_loss(policy_chosen_logps, policy_rejected_logps, beta):
    # Derived from Eqs. (4) and (7) from https://huggingface.co/papers/2403.07691 by using log identities
    log_odds = (policy_chosen_logps - policy_rejected_logps) - (
        torch.log1p(-torch.exp(policy_chosen_logps)) - torch.log1p(-torch.exp(policy_rejected_logps))
    )
    ratio = F.logsigmoid(log_odds)
    losses = beta * ratio
    chosen_rewards = beta * policy_chosen_logps.detach()
    rejected_rewards = beta * policy_rejected_logps.detach()
    return losses, chosen_rewards, rejected_rewards, torch.mean(ratio), torch.mean(log_odds)


def orpo_case(beta):
    ct, cm, rt, rm = t(CHOSEN_TOKENS), t(CHOSEN_MASK), t(REJECTED_TOKENS), t(REJECTED_MASK)
    chosen = get_batch_logps(ct, cm, True)   # ORPO: average_log_prob=True
    rejected = get_batch_logps(rt, rm, True)
    nll = chosen_nll(ct, cm)
    losses, cr, rr, log_odds_ratio, log_odds_chosen = odds_ratio_loss(chosen, rejected, beta)
    loss = nll - losses.mean()
    return {"beta": beta, "loss": loss.item(), "nll_loss": nll.item(), "chosen_rewards": cr.tolist(),
            "rejected_rewards": rr.tolist(), "log_odds_ratio": log_odds_ratio.item(),
            "log_odds_chosen": log_odds_chosen.item(),
            "rewards/accuracies": (cr > rr).float().mean().item()}


# ---- CPO / SimPO: CPOTrainer.cpo_loss and get_batch_loss_metrics ----------------------------------------------------
def cpo_loss(policy_chosen_logps, policy_rejected_logps, loss_type, beta, label_smoothing, simpo_gamma):
    logits = policy_chosen_logps - policy_rejected_logps
    if loss_type == "simpo":
        gamma_logratios = simpo_gamma / beta
        logits = logits - gamma_logratios
        losses = (-F.logsigmoid(beta * logits) * (1 - label_smoothing)
                  - F.logsigmoid(-beta * logits) * label_smoothing)
    elif loss_type == "sigmoid":
        losses = (-F.logsigmoid(beta * logits) * (1 - label_smoothing)
                  - F.logsigmoid(-beta * logits) * label_smoothing)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(loss_type)
    chosen_rewards = beta * policy_chosen_logps.detach()
    rejected_rewards = beta * policy_rejected_logps.detach()
    return losses, chosen_rewards, rejected_rewards


def cpo_case(loss_type, beta, label_smoothing, simpo_gamma, cpo_alpha):
    ct, cm, rt, rm = t(CHOSEN_TOKENS), t(CHOSEN_MASK), t(REJECTED_TOKENS), t(REJECTED_MASK)
    average = loss_type in ["ipo", "simpo"]
    chosen = get_batch_logps(ct, cm, average)
    rejected = get_batch_logps(rt, rm, average)
    nll = torch.tensor(0.0) if cpo_alpha == 0 else chosen_nll(ct, cm)
    losses, cr, rr = cpo_loss(chosen, rejected, loss_type, beta, label_smoothing, simpo_gamma)
    loss = losses.mean() + cpo_alpha * nll
    return {"loss_type": loss_type, "beta": beta, "label_smoothing": label_smoothing, "simpo_gamma": simpo_gamma,
            "cpo_alpha": cpo_alpha, "loss": loss.item(), "losses": losses.tolist(), "nll_loss": nll.item(),
            "chosen_rewards": cr.tolist(), "rejected_rewards": rr.tolist()}


def main():
    out = {
        "_source": "scripts/reference/trl_losses.py (TRL's loss code in plain PyTorch " + torch.__version__ + ", float32)",
        "chosen_tokens": CHOSEN_TOKENS, "chosen_mask": CHOSEN_MASK,
        "rejected_tokens": REJECTED_TOKENS, "rejected_mask": REJECTED_MASK,
        "kto_policy": KTO_POLICY, "kto_reference": KTO_REFERENCE, "kto_label": KTO_LABEL,
        "kto_policy_kl": KTO_POLICY_KL,
        "kto": [kto_case(0.1, 1.0, 1.0, KTO_REFERENCE_KL), kto_case(0.5, 1.33, 0.75, KTO_REFERENCE_KL),
                kto_case(0.1, 1.0, 1.0, KTO_REFERENCE_KL_NEG)],
        "orpo": [orpo_case(0.1), orpo_case(1.0)],
        "cpo": [cpo_case("sigmoid", 0.1, 0.0, 0.5, 1.0), cpo_case("sigmoid", 0.5, 0.1, 0.5, 0.0),
                cpo_case("hinge", 0.5, 0.0, 0.5, 1.0), cpo_case("ipo", 0.1, 0.0, 0.5, 1.0),
                cpo_case("simpo", 2.0, 0.0, 0.5, 0.0), cpo_case("simpo", 2.0, 0.1, 1.0, 0.5)],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
