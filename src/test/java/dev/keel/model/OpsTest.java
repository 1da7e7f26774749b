package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

/** {@link Ops#linear}: one row through {@code mv} with a float32 weight, through {@code linear} otherwise. */
class OpsTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void oneRowTakesMvOnlyWithAFloat32Weight_bothGiveTheProduct() {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            torch.manual_seed(5);
            Tensor x = torch.randn(1, 1, 48);
            Tensor w = torch.randn(40, 48);
            Tensor b = torch.randn(40);
            for (ScalarType t : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
                Tensor xt = x.to(t);
                Tensor wt = w.to(t);
                Tensor bt = b.to(t);
                assertEquals(t == ScalarType.Float, Ops.oneRowMv(xt, wt), t.toString());
                Tensor y = Ops.linear(xt, wt, bt);
                Tensor ref = torch.linear(xt, wt, new TensorOptional(bt));
                assertEquals(t, y.scalar_type().intern());
                assertEquals(3, y.dim());
                double err = Tensors.item(y.to(ScalarType.Float).sub(ref.to(ScalarType.Float)).abs().max())
                        / Tensors.item(ref.to(ScalarType.Float).abs().max());
                assertTrue(err < (t == ScalarType.Float ? 1e-6 : 1e-2), t + ": relative error " + err);
            }
            assertFalse(Ops.oneRowMv(torch.randn(2, 48), w), "two rows: a matrix product");
        }
    }
}
