package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.concurrent.atomic.AtomicInteger;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;

class DecodingCopiesTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theBudgetForDecodingCopiesIsAnEighthOfTheMachinesMemory_atLeastOneGiB() {
        long gib = 1L << 30;
        assertEquals(gib, CausalLM.decodingCopiesBudget(0), "memory unknown");
        assertEquals(gib, CausalLM.decodingCopiesBudget(4 * gib), "a 4 GiB machine");
        assertEquals(3 * gib, CausalLM.decodingCopiesBudget(24 * gib), "a 24 GiB machine");
        // Qwen2.5-0.5B's float32 weights (1.98 GB) make copies on a 16 GiB machine, a 1.5B model's (6.2 GB) on 64 GiB
        assertEquals(true, 1_976_163_472L <= CausalLM.decodingCopiesBudget(16 * gib));
        assertEquals(true, 6_175_000_000L <= CausalLM.decodingCopiesBudget(64 * gib));
        assertEquals(false, 6_175_000_000L <= CausalLM.decodingCopiesBudget(32 * gib));
    }

    @Test
    void theCachesOfAGenerationsPartsShareOneCopyThatOutlivesThemAndTheStepThatMadeIt() throws Exception {
        AtomicInteger made = new AtomicInteger();
        try (DecodingCopies copies = new DecodingCopies()) {
            KvCache a = new KvCache(1, 4, copies);
            KvCache b = new KvCache(1, 4, copies);
            Tensor first;
            try (PointerScope step = new PointerScope()) {
                first = a.derived("w", () -> {
                    made.incrementAndGet();
                    return torch.ones(3, 2);
                });
            }
            // made in another thread (as by the other lane), asked for from this one
            Thread other = new Thread(() -> {
                try (PointerScope step = new PointerScope()) {
                    b.derived("none", () -> {
                        made.incrementAndGet();
                        return null;
                    });
                }
            });
            other.start();
            other.join();
            a.close();
            try (PointerScope step = new PointerScope()) {
                Tensor again = b.derived("w", () -> {
                    made.incrementAndGet();
                    return torch.zeros(3, 2);
                });
                assertSame(first, again);
                assertEquals(6.0, again.sum().item_double(), "still alive after its step's scope and a's close");
                assertNull(a.derived("none", () -> {
                    made.incrementAndGet();
                    return torch.zeros(1);
                }), "a null is kept too");
            }
            b.close();
            assertEquals(6.0, first.sum().item_double(), "the shared copies live until the generation closes them");
        }
        assertEquals(2, made.get(), "each copy made once");
    }
}
