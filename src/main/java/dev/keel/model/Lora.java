package dev.keel.model;

import static dev.keel.tensor.Tensors.s;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * LoRA's formulas (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", Eq. 3), as PEFT's
 * {@code peft/tuners/lora/layer.py} computes them; docs/ALGORITHMS.md §8. Pure functions of tensors.
 */
public final class Lora {
    private Lora() {}

    /**
     * The adapter's scale: alpha / r (Hu et al. 2021, Sec. 4.1), or alpha / sqrt(r) with rank-stabilised LoRA
     * (Kalajdzievski 2023), as PEFT's {@code LoraLayer.update_layer} sets {@code scaling}.
     */
    public static double scaling(double alpha, int r, boolean rslora) {
        return rslora ? alpha / Math.sqrt(r) : alpha / r;
    }

    /**
     * h = W x + scaling · B A dropout(x): the base layer's output {@code base} (..., out) plus the low-rank update
     * of its input {@code x} (..., in), with A (r, in) and B (out, r) laid out as PEFT's {@code lora_A.weight} and
     * {@code lora_B.weight} (so for GPT-2's Conv1D layers too). Dropout, with probability {@code dropout}, only
     * when {@code training}, as {@code nn.Dropout} in train mode.
     */
    public static Tensor forward(Tensor base, Tensor x, Tensor a, Tensor b, double scaling, double dropout,
                                 boolean training) {
        Tensor in = dropout > 0 && training ? torch.dropout(x, dropout, true) : x;
        Tensor down = torch.matmul(in, a.t());                                          // (..., r)
        Tensor up = torch.matmul(down, b.t());                                          // (..., out)
        Tensor out = base.add(up, s(scaling));
        // autograd keeps what it needs (down, a, b); freed now rather than at the end of the step's PointerScope,
        // this (..., out) temporary of every adapted layer would otherwise add up to 1.3 GB at SmolLM2-135M's
        // shape (30 layers x 7 linears x 1,024 tokens)
        up.close();
        return out;
    }

    /**
     * The update merged into the base weight: scaling · B A (out, in), transposed to (in, out) for a layer that
     * stores its weight as (in, out) ({@code fan_in_fan_out}, GPT-2's Conv1D), as PEFT's {@code get_delta_weight}.
     */
    public static Tensor delta(Tensor a, Tensor b, double scaling, boolean fanInFanOut) {
        Tensor d = torch.matmul(b, a).mul(s(scaling));                                  // (out, in)
        return fanInFanOut ? d.t().contiguous() : d;
    }

    /**
     * The bound of A's initial uniform draw: nn.Linear's kaiming_uniform_(a = sqrt(5)), which PEFT's
     * {@code reset_lora_parameters} uses for A, is U(-1/sqrt(in), 1/sqrt(in)); B starts at zero.
     */
    public static double initBound(long in) {
        return 1.0 / Math.sqrt(in);
    }
}
