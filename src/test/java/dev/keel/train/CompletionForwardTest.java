package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.data.Collator;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.tensor.Tensors;

class CompletionForwardTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theFirstColumnPredictsTheEarliestCountedTokenOfAnyRow() {
        try (PointerScope s = new PointerScope()) {
            assertEquals(2, CompletionForward.firstColumn(Tensors.longs(new long[][] {{0, 0, 0, 0, 1}, {0, 0, 0, 1, 1}},
                    null)));
            assertEquals(0, CompletionForward.firstColumn(Tensors.longs(new long[][] {{0, 1, 1}, {0, 0, 1}}, null)));
            assertEquals(0, CompletionForward.firstColumn(Tensors.longs(new long[][] {{1, 1, 1}}, null)));
            assertEquals(0, CompletionForward.firstColumn(Tensors.longs(new long[][] {{0, 0, 0}}, null)));
        }
    }

    @Test
    void sumsOverTheKeptColumnsEqualThoseOverEveryColumn() {
        for (CausalLM m : List.of(
                ModelInit.random(ConfigFactory.llama(64, 32, 2, 4, 2, 48, 64, 10000, false, 1, 2), 3, null),
                ModelInit.random(ConfigFactory.gpt2(64, 32, 2, 4, 64, 0, 0), 4, null))) {
            try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                // prompts of 5, 3 and 7 tokens: the earliest completion token is at column 3, so column 2 on is kept
                List<long[]> prompts = List.of(new long[] {5, 6, 7, 8, 9}, new long[] {10, 11, 12},
                        new long[] {13, 14, 15, 16, 17, 18, 19});
                List<long[]> completions = List.of(new long[] {20, 21}, new long[] {22, 23, 24, 25},
                        new long[] {26});
                Collator.Batch b = Collator.rightPad(prompts, completions, 0, m.device());
                CompletionForward f = CompletionForward.of(m, b);
                long t = b.inputIds().size(1);
                assertArrayEquals(new long[] {3, t - 2, 64}, Tensors.shape(f.logits()));
                LogProbs.Sums all = LogProbs.sequence(m.forward(b.inputIds(), b.keep()), b.inputIds(), b.completionMask());
                LogProbs.Sums kept = f.sums();
                assertArrayEquals(Tensors.toLongs(all.counts()), Tensors.toLongs(kept.counts()));
                assertArrayEquals(new long[] {2, 4, 1}, Tensors.toLongs(kept.counts()));
                float[] a = Tensors.toFloats(all.logProbs());
                float[] k = Tensors.toFloats(kept.logProbs());
                for (int i = 0; i < a.length; i++) {
                    assertEquals(a[i], k[i], 1e-5, "row " + i);
                }
            }
        }
    }
}
