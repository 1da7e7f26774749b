package dev.keel.model;

import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * libtorch's CPU autocast ({@code at::autocast}, what {@code torch.autocast(device_type="cpu",
 * dtype=torch.bfloat16)} sets) on the current thread, while open: the ops of libtorch's lower-precision list
 * (linear, addmm, mm, bmm, matmul, baddbmm, conv, scaled_dot_product_attention) cast their float32 inputs to
 * bfloat16; the ops of its float32 list (losses, ...) run in float32; the rest run in their inputs' dtype. On
 * close the state before it is restored and, as {@code torch.autocast.__exit__}, the cache of cast weights is
 * cleared when the outermost scope closes (so an optimizer step is never hidden behind a stale cast).
 */
final class Autocast implements AutoCloseable {
    private final boolean wasEnabled;
    private final ScalarType wasType;

    private Autocast() {
        wasEnabled = torch.is_autocast_enabled(DeviceType.CPU);
        wasType = torch.get_autocast_dtype(DeviceType.CPU);
        torch.set_autocast_dtype(DeviceType.CPU, ScalarType.BFloat16);
        torch.set_autocast_enabled(DeviceType.CPU, true);
        torch.increment_nesting();
    }

    /** A bf16 autocast scope when {@code on}, else null (try-with-resources accepts a null resource). */
    static Autocast bf16If(boolean on) {
        return on ? new Autocast() : null;
    }

    @Override
    public void close() {
        if (torch.decrement_nesting() == 0) {
            torch.clear_cache();
        }
        torch.set_autocast_enabled(DeviceType.CPU, wasEnabled);
        torch.set_autocast_dtype(DeviceType.CPU, wasType);
    }
}
