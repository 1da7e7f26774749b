package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.tensor.Tensors;

class FusedAdamWTest {
    @TempDir
    java.nio.file.Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /**
     * Two steps worked out by hand (lr 0.1, betas 0.9 / 0.999, eps 1e-8, weight decay 0.01), p = [1, -2], gradients
     * [0.5, -0.1] then [-0.3, 0.2]. Step 1: p = 0.999 p = [0.999, -1.998]; m = 0.1 g = [0.05, -0.01]; v = 0.001 g^2 =
     * [2.5e-4, 1e-5]; denominator sqrt(v) / sqrt(0.001) + eps = [0.5, 0.1] (+1e-8); p -= (0.1 / 0.1) m / denominator
     * = [0.899000002, -1.89800001]. Step 2: p = 0.999 p = [0.898101002, -1.89610201]; m = [0.015, 0.011]; v =
     * [3.3975e-4, 4.999e-5]; bias corrections 0.19 and 0.001999; p -= (0.1 / 0.19) m / (sqrt(v / 0.001999) + eps) =
     * [0.878951199, -1.93271236].
     */
    @Test
    void twoStepsWorkedOutByHand() {
        Tensor p = Tensors.floats(new float[] {1f, -2f}, 2).requires_grad_(true);
        FusedAdamW opt = new FusedAdamW(0.1, 0.9, 0.999, 1e-8).addGroup(List.of(p), 0.01);
        p.mutable_grad().put(Tensors.floats(new float[] {0.5f, -0.1f}, 2));
        opt.step();
        assertClose(new double[] {0.899000002, -1.89800001}, p, 1e-6);
        assertClose(new double[] {0.05, -0.01}, opt.expAvg(0), 1e-7);
        assertClose(new double[] {2.5e-4, 1e-5}, opt.expAvgSq(0), 1e-9);
        p.mutable_grad().put(Tensors.floats(new float[] {-0.3f, 0.2f}, 2));
        opt.step();
        assertClose(new double[] {0.878951199, -1.93271236}, p, 1e-6);
        assertEquals(2, opt.step(0));
    }

    /** Against libtorch's AdamW, two groups, a parameter that has no gradient at first: the same numbers (1e-6). */
    @Test
    void matchesLibtorchAdamW() {
        torch.manual_seed(7);
        List<Tensor> a = params();
        List<Tensor> b = copies(a);
        AdamW ref = libtorch(b, 0.01);
        FusedAdamW opt = fused(a);
        for (int step = 0; step < 4; step++) {
            for (int i = 0; i < a.size(); i++) {
                if (step == 0 && i == 1) {
                    continue;                // no gradient: skipped, its moments start at its first gradient
                }
                Tensor g = torch.randn(a.get(i).sizes().vec().get());
                a.get(i).mutable_grad().put(g.clone());
                b.get(i).mutable_grad().put(g.clone());
            }
            opt.step();
            ref.step();
            opt.zeroGrad();
            ref.zero_grad(true);
            for (int i = 0; i < a.size(); i++) {
                assertFalse(a.get(i).grad().defined(), "zeroGrad drops the gradient");
                assertTrue(a.get(i).allclose(b.get(i), 1e-6, 1e-7, false), "parameter " + i + " after step " + step);
            }
        }
        assertEquals(4, opt.step(0));
        assertEquals(3, opt.step(1));
    }

    /** The archive goes both ways between libtorch's AdamW and this one, and the next step agrees (1e-6). */
    @Test
    void stateRoundTripsThroughLibtorchsArchiveLayout() {
        torch.manual_seed(11);
        List<Tensor> a = params();
        List<Tensor> b = copies(a);
        AdamW ref = libtorch(b, 0.01);
        FusedAdamW opt = fused(a);
        gradients(b, 1);
        ref.step();
        gradients(b, 1);
        ref.step();
        for (int i = 0; i < a.size(); i++) {
            a.get(i).detach().copy_(b.get(i).detach());
        }
        // libtorch's archive into this optimizer
        java.nio.file.Path file = tmp.resolve("libtorch.pt");
        OutputArchive out = new OutputArchive();
        ref.save(out);
        out.save_to(file.toString());
        InputArchive in = new InputArchive();
        in.load_from(file.toString());
        opt.load(in);
        assertEquals(2, opt.step(0));
        gradients(a, 5);
        gradients(b, 5);
        opt.step();
        ref.step();
        for (int i = 0; i < a.size(); i++) {
            assertTrue(a.get(i).allclose(b.get(i), 1e-6, 1e-7, false), "parameter " + i + " after loading libtorch's state");
        }
        // this optimizer's archive into a fresh libtorch AdamW
        java.nio.file.Path mine = tmp.resolve("fused.pt");
        OutputArchive out2 = new OutputArchive();
        opt.save(out2);
        out2.save_to(mine.toString());
        List<Tensor> c = copies(a);
        AdamW fresh = libtorch(c, 0.01);
        InputArchive in2 = new InputArchive();
        in2.load_from(mine.toString());
        fresh.load(in2);
        gradients(a, 9);
        gradients(c, 9);
        opt.step();
        fresh.step();
        for (int i = 0; i < a.size(); i++) {
            assertTrue(a.get(i).allclose(c.get(i), 1e-6, 1e-7, false), "parameter " + i + " after libtorch loads ours");
        }
        // and a run with other parameters is refused with a reason
        FusedAdamW other = new FusedAdamW(1e-2, 0.9, 0.95, 1e-6).addGroup(a.subList(0, 1), 0.01);
        InputArchive in3 = new InputArchive();
        in3.load_from(mine.toString());
        KeelException e = assertThrows(KeelException.class, () -> other.load(in3));
        assertTrue(e.getMessage().contains("has 2 parameter groups where this run has 1"), e.getMessage());
    }

    private static List<Tensor> params() {
        List<Tensor> out = new ArrayList<>();
        out.add(torch.randn(5, 3).requires_grad_(true));
        out.add(torch.randn(7).requires_grad_(true));
        out.add(torch.randn(4, 2).requires_grad_(true));
        return out;
    }

    private static List<Tensor> copies(List<Tensor> ps) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor p : ps) {
            out.add(p.detach().clone().requires_grad_(true));
        }
        return out;
    }

    /** The fused AdamW of these tests: the first two parameters decayed, the third not. */
    private static FusedAdamW fused(List<Tensor> a) {
        return new FusedAdamW(1e-2, 0.9, 0.95, 1e-6).addGroup(a.subList(0, 2), 0.01).addGroup(a.subList(2, 3), 0.0);
    }

    /** libtorch's AdamW with the same two groups as {@link #fused}. */
    private static AdamW libtorch(List<Tensor> b, double decay) {
        AdamW ref = new AdamW(new TensorVector(b.get(0), b.get(1)), options(decay));
        ref.add_param_group(new OptimizerParamGroup(new TensorVector(b.get(2)), options(0.0)));
        return ref;
    }

    private static AdamWOptions options(double decay) {
        AdamWOptions o = new AdamWOptions(1e-2);
        o.betas().put(0, 0.95).put(1, 0.9);  // libstdc++ lays the tuple out in reverse: beta2 first
        o.eps().put(1e-6);
        o.weight_decay().put(decay);
        return o;
    }

    private static void gradients(List<Tensor> ps, long seed) {
        torch.manual_seed(seed);
        for (Tensor p : ps) {
            p.mutable_grad().put(torch.randn(p.sizes().vec().get()));
        }
    }

    private static void assertClose(double[] want, Tensor got, double tol) {
        try (PointerScope s = new PointerScope()) {
            float[] v = Tensors.toFloats(got.detach());
            assertEquals(want.length, v.length);
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], v[i], tol, "element " + i);
            }
        }
    }
}
