package dev.keel.tensor;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class TensorsTest {
    private static final ScalarType[] FLOATS = {ScalarType.Float, ScalarType.BFloat16, ScalarType.Half, ScalarType.Double};

    /** 1,000 finite values (10 x 100) in {@code type}, with {@code bad} written at {@code at} when {@code put}. */
    private static Tensor values(ScalarType type, int at, float bad, boolean put) {
        float[] v = new float[1000];
        for (int i = 0; i < v.length; i++) {
            v[i] = (i % 7 - 3) * 0.25f;
        }
        if (put) {
            v[at] = bad;
        }
        return Tensors.floats(v, 10, 100).to(type);
    }

    @Test
    void allFiniteFindsANanOrAnInfinityAnywhereInEveryFloatType() {
        try (PointerScope scope = new PointerScope()) {
            for (ScalarType type : FLOATS) {
                assertTrue(Tensors.allFinite(values(type, 0, 0, false)), type.toString());
                for (int at : new int[] {0, 1, 499, 998, 999}) {
                    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                        assertFalse(Tensors.allFinite(values(type, at, bad, true)), type + " " + bad + " at " + at);
                    }
                }
            }
            // the largest finite float32 is finite; a column slice (not contiguous) is read as well
            assertTrue(Tensors.allFinite(values(ScalarType.Float, 5, Float.MAX_VALUE, true)));
            Tensor withNan = values(ScalarType.Float, 105, Float.NaN, true);   // row 1, column 5
            assertFalse(Tensors.allFinite(withNan.narrow(1, 5, 1)));
            assertTrue(Tensors.allFinite(withNan.narrow(1, 6, 1)));
        }
    }

    @Test
    void aTensorWithoutValuesOrWithOneIsChecked() {
        try (PointerScope scope = new PointerScope()) {
            assertTrue(Tensors.allFinite(torch.zeros(0, 4)));
            assertTrue(Tensors.allFinite(torch.scalar_tensor(Tensors.s(2.5))));
            assertFalse(Tensors.allFinite(torch.scalar_tensor(Tensors.s(Double.NaN))));
        }
    }
}
