package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/**
 * {@code --bf16} ({@link Compute#bf16()}, {@link Autocast}): the products run in bfloat16 and nothing else
 * changes dtype: float32 weights and gradients, float32 residual stream, norms and logits.
 */
class MixedPrecisionTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /** Largest |a - b| over the largest |a|. */
    private static double relativeError(Tensor a, Tensor b) {
        return Tensors.item(a.sub(b).abs().max()) / Tensors.item(a.abs().max());
    }

    @Test
    void aLinearUnderAutocastIsTheProductOfTheBf16RoundedInputs() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(1);
            Tensor x = torch.randn(8, 64);
            Tensor w = torch.randn(32, 64);
            Tensor f32 = Ops.linear(x, w, null);
            Tensor mixed;
            try (Autocast a = Autocast.bf16If(true)) {
                mixed = Ops.linear(x, w, null);
            }
            assertEquals(ScalarType.BFloat16, mixed.scalar_type().intern());
            Tensor byHand = torch.mm(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16).t());
            assertEquals(0.0, Tensors.item(mixed.to(ScalarType.Float).sub(byHand.to(ScalarType.Float)).abs().max()));
            double err = relativeError(f32, mixed.to(ScalarType.Float));
            // above float32 rounding (2^-24 per input, summed over 64 terms), below bfloat16's (2^-8 per input)
            assertTrue(err > 1e-5 && err < 2e-2, "relative error " + err);
            assertFalse(torch.is_autocast_enabled(DeviceType.CPU), "closing restores autocast off");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void aBf16ForwardKeepsFloat32WeightsGradientsAndLogits(String family) {
        CausalLM m = CheckpointingTest.model(family);
        m.parameters().forEach(p -> p.set_requires_grad(true));
        try (PointerScope scope = new PointerScope()) {
            Tensor ids = Tensors.longs(new long[][] {{5, 9, 13, 2, 40, 7}, {3, 8, 1, 0, 0, 0}}, null);
            Tensor keep = Tensors.longs(new long[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}}, null);
            Tensor f32 = m.forward(ids, keep).detach();
            Tensor mixed;
            try (Compute c = Compute.use(true, false)) {
                mixed = m.forward(ids, keep);
                Tensor h = m.hidden(ids, dev.keel.model.AttentionMask.positionIds(keep),
                        AttentionMask.causal(keep, ids.size(1), 0), null);
                assertEquals(ScalarType.Float, h.scalar_type().intern(), "the residual stream and final norm in f32");
            }
            assertEquals(ScalarType.Float, mixed.scalar_type().intern(), "logits reach the loss in float32");
            double err = relativeError(f32, mixed.detach());
            assertTrue(err > 1e-5 && err < 5e-2, "bf16 logits differ from f32 by " + err);
            torch.log_softmax(mixed, -1).select(-1, 3).sum().backward();
            m.weights().forEach((name, p) -> {
                assertEquals(ScalarType.Float, p.scalar_type().intern(), name);
                assertTrue(p.grad().defined(), name);
                assertEquals(ScalarType.Float, p.grad().scalar_type().intern(), name + "'s gradient");
            });
        }
    }

    @Test
    void anOptimizerStepIsSeenByTheNextForward() {
        CausalLM m = CheckpointingTest.model("gpt2");
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard();
             Compute c = Compute.use(true, false)) {
            Tensor ids = Tensors.longs(new long[][] {{5, 9, 13, 2}}, null);
            Tensor keep = Tensors.longs(new long[][] {{1, 1, 1, 1}}, null);
            Tensor before = m.forward(ids, keep);
            m.weights().values().forEach(p -> p.mul_(Tensors.s(1.5)));
            Tensor after = m.forward(ids, keep);
            Tensor fresh = m.copy().forward(ids, keep);
            assertTrue(relativeError(before, after) > 1e-2, "the step changed the logits");
            assertEquals(0.0, Tensors.item(after.sub(fresh).abs().max()), "no stale bf16 copy of a weight");
        }
    }
}
