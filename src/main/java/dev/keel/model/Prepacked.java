package dev.keel.model;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Dispatcher;
import org.bytedeco.pytorch.GenericList;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.NumberType;
import org.bytedeco.pytorch.OperatorHandle;
import org.bytedeco.pytorch.OptionalType;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.global.torch;

/**
 * Linear weights reordered once into oneDNN's blocked layout, for the many small products of decoding.
 *
 * <p>A decoding step multiplies a few rows (the batch) by every weight of the model. OpenBLAS packs the weight into
 * its own panels inside every call, so at 16 to 64 rows packing is a third of a product's time, and its worker
 * thread spins between the step's short calls. libtorch's oneDNN kernels take a weight packed ahead of time
 * ({@code mkldnn::_reorder_linear_weight}, then {@code mkldnn::_linear_pointwise}, the pair PyTorch's own compiler
 * uses for frozen CPU linears); the C++ API exposes neither, so they are called through the dispatcher by name. A
 * generation packs each weight once (held by its {@link KvCache}, as weights change between generations in RL).
 *
 * <p>The reorder takes the expected row count as a hint, and with hints of 1 to 6 oneDNN (libtorch 2.10) picks a
 * layout whose products come out wrong for some shapes, and which shapes depends on the thread count (measured here
 * over hints 1-40: on two threads the (out, in) weights 256 x 256, 256 x 688, 160 x 64, 64 x 160 and 128 x 896,
 * relative errors near 1; on one thread only 160 x 64; no failure from hint 7 up). So the hint is never below
 * {@link #MIN_HINT}, and the first packing of each shape, hint and thread count in a process is checked against
 * {@code torch.linear} at 1 and {@code hint} rows; one that fails is never packed again and decodes as before.
 * Weights in float32 or bfloat16 (whose products oneDNN runs in its AVX-512 BF16 kernels either way; packed, the
 * largest of a batch-16 step at the Qwen2.5-0.5B shape ran 20-35% faster, docs/PERFORMANCE.md, item 30).
 * {@code KEEL_PREPACK=0} turns packing off.
 */
final class Prepacked {
    /** Relative error a packed float32 product may have against {@code torch.linear} (sums in another order). */
    static final double CHECK_TOLERANCE = 1e-4;
    /**
     * The same for bfloat16 weights, beyond one rounding step of each output (at most 2^-7 of its value: outputs are
     * rounded to bfloat16, and float32 sums in another order can land on either side of a rounding boundary).
     */
    static final double BF16_CHECK_TOLERANCE = 1e-3;
    /** Smallest row-count hint given to the reorder (see the class comment for the hints that go wrong). */
    static final long MIN_HINT = 16;
    private static final OneDnn ops = OneDnn.find();
    private static volatile boolean enabled = ops != null && !"0".equals(System.getenv("KEEL_PREPACK"));
    /** (out, in, hint, threads) to whether its packed products matched torch.linear. */
    private static final Map<String, Boolean> CHECKED = new ConcurrentHashMap<>();
    private static final java.util.concurrent.atomic.AtomicLong PACKED = new java.util.concurrent.atomic.AtomicLong();

    private Prepacked() {}

    /** Whether packing is available and on. */
    static boolean enabled() {
        return enabled;
    }

    /** Number of weights packed in this process (for tests). */
    static long packed() {
        return PACKED.get();
    }

    /** Turns packing on or off (for measurements and tests); returns the setting before. */
    static boolean use(boolean on) {
        boolean before = enabled;
        enabled = on && ops != null;
        return before;
    }

    /**
     * {@code weight} (out, in), float32 or bfloat16, reordered for products of about {@code rows} rows; null when
     * packing is off
     * or this shape failed its check (the caller then multiplies by {@code weight} as it is).
     */
    static Tensor pack(Tensor weight, long rows) {
        if (!enabled) {
            return null;
        }
        long hint = Math.max(MIN_HINT, rows);
        String key = weight.size(0) + "x" + weight.size(1) + "@" + hint + "/" + torch.get_num_threads();
        Boolean ok = CHECKED.get(key);
        if (ok != null && !ok) {
            return null;
        }
        Tensor packed = ops.reorder(weight, hint);
        if (ok == null) {
            ok = matches(weight, packed, 1) && matches(weight, packed, hint);
            CHECKED.put(key, ok);
            if (!ok) {
                return null;
            }
        }
        PACKED.incrementAndGet();
        return packed;
    }

    /** x W^T + b with a weight from {@link #pack}; x is (..., in). */
    static Tensor linear(Tensor x, Tensor packed, Tensor bias) {
        long in = x.size(-1);
        long[] shape = dev.keel.tensor.Tensors.shape(x);
        Tensor y = ops.linear(x.reshape(-1, in).contiguous(), packed, bias);
        shape[shape.length - 1] = y.size(-1);
        return y.view(shape);
    }

    /** Whether {@code packed}'s products with {@code rows} rows equal those of {@code weight} (to the tolerance). */
    static boolean matches(Tensor weight, Tensor packed, long rows) {
        try (PointerScope scope = new PointerScope()) {
            // a fixed input, not the global random generator, whose draws the caller's runs must not depend on
            Tensor x = torch.arange(dev.keel.tensor.Tensors.s(rows * weight.size(1)),
                            dev.keel.tensor.Tensors.options(torch.ScalarType.Float, weight.device()))
                    .mul(dev.keel.tensor.Tensors.s(0.37)).sin().view(rows, weight.size(1)).to(weight.scalar_type());
            Tensor expected = torch.linear(x, weight, new TensorOptional()).to(torch.ScalarType.Float);
            Tensor got = ops.linear(x, packed, null);
            if (got.sizes().vec().get().length != 2 || got.size(1) != weight.size(0)) {
                return false;
            }
            double scale = Math.max(expected.abs().max().item_double(), 1e-30);
            Tensor err = expected.sub(got.to(torch.ScalarType.Float)).abs();
            if (weight.scalar_type().intern() == torch.ScalarType.BFloat16) {
                return err.sub(expected.abs().mul(dev.keel.tensor.Tensors.s(1.0 / 128))).max().item_double()
                        <= BF16_CHECK_TOLERANCE * scale;
            }
            return err.max().item_double() <= CHECK_TOLERANCE * scale;
        }
    }

    /** The two oneDNN operators, looked up by name; null when this libtorch lacks them. */
    private record OneDnn(Dispatcher dispatcher, OperatorHandle reorder, OperatorHandle pointwise, GenericList noScalars) {
        static OneDnn find() {
            try {
                // kept for the process: a reference of their own, so the PointerScope that is open where this class
                // is first used (a generation step's) does not free them when it closes
                Dispatcher d = Dispatcher.singleton().retainReference();
                // the schema's "Scalar?[] scalars", empty: a list of optional numbers
                GenericList none = new GenericList(OptionalType.get(new Type.TypePtr(NumberType.getNumberIntTypePtr().get())))
                        .retainReference();
                OneDnn o = new OneDnn(d, d.findSchemaOrThrow("mkldnn::_reorder_linear_weight", "").retainReference(),
                        d.findSchemaOrThrow("mkldnn::_linear_pointwise", "").retainReference(), none);
                try (PointerScope scope = new PointerScope()) {
                    Tensor w = torch.ones(4, 3);
                    Tensor y = o.linear(torch.ones(2, 3), o.reorder(w, 2), null);
                    return y.size(0) == 2 && y.size(1) == 4 && y.sum().item_double() == 24.0 ? o : null;
                }
            } catch (RuntimeException | LinkageError e) {
                return null;
            }
        }

        Tensor reorder(Tensor weight, long hint) {
            return call(reorder, new IValue(weight), new IValue(hint));
        }

        Tensor linear(Tensor x2d, Tensor packed, Tensor bias) {
            return call(pointwise, new IValue(x2d), new IValue(packed), bias == null ? new IValue() : new IValue(bias),
                    new IValue("none"), new IValue(noScalars), new IValue());
        }

        private Tensor call(OperatorHandle op, IValue... args) {
            IValueVector stack = new IValueVector(args);
            dispatcher.callBoxed(op, stack);
            // toTensor() refers into the stack's storage, which goes with the stack: the result holds its own reference
            return new Tensor(stack.get(0).toTensor());
        }
    }
}
