package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.data.LmExample;
import dev.keel.model.BackwardPass;
import dev.keel.model.CausalLM;
import dev.keel.model.Compute;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.ModelFiles;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;

/** A batch's backward in two lanes gives the whole batch's gradients, the same floats on every run. */
class BatchBackwardTest {
    static CausalLM model;
    static Path dir;
    static List<LmExample> batch = new ArrayList<>();

    @BeforeAll
    static void init() throws Exception {
        TestSupport.init();
        dir = TinyModels.llama(Files.createTempDirectory("keel-lanes"), 5);
        model = ModelFiles.load(dir, null, null);
        model.parameters().forEach(t -> t.set_requires_grad(true));
        Random r = new Random(3);
        for (int i = 0; i < 5; i++) { // an odd count: halves of 3 and 2
            long[] ids = new long[6 + i];
            long[] mask = new long[ids.length];
            for (int j = 0; j < ids.length; j++) {
                ids[j] = 3 + r.nextInt((int) model.config().vocabSize() - 3);
                mask[j] = j == 0 ? 0 : 1;
            }
            batch.add(new LmExample(i + 1, ids, mask));
        }
    }

    /** The gradients of one batch's backward (each weight's, flattened), and how many parts ran. */
    private static Map<String, float[]> gradients(int lanes, Task<LmExample> task, int[] parts) throws Exception {
        return gradients(model, lanes, task, parts);
    }

    private static Map<String, float[]> gradients(CausalLM model, int lanes, Task<LmExample> task, int[] parts)
            throws Exception {
        Map<String, float[]> g = new LinkedHashMap<>();
        try (AutoCloseable l = Lanes.use(lanes); PointerScope scope = new PointerScope()) {
            model.trainable().values().forEach(t -> { if (t.grad().defined()) t.grad().zero_(); });
            parts[0] = BatchBackward.run(task, batch, task.weight(batch), BackwardPass.splittable(model)).size();
            for (Map.Entry<String, Tensor> e : model.trainable().entrySet()) {
                g.put(e.getKey(), Tensors.toFloats(e.getValue().grad().flatten()));
            }
        }
        return g;
    }

    /**
     * The gradients of {@code task}'s batch in two lanes, asserted to split in two and to be the same floats on three
     * more runs (whichever lane ends first).
     */
    private static Map<String, float[]> splitTheSameOnEveryRun(CausalLM m, Task<LmExample> task, String what) throws Exception {
        int[] parts = new int[1];
        Map<String, float[]> split = gradients(m, 2, task, parts);
        assertEquals(2, parts[0], what + ": five examples in two halves");
        for (int run = 0; run < 3; run++) {
            Map<String, float[]> again = gradients(m, 2, task, parts);
            for (String k : split.keySet()) {
                assertArrayEquals(split.get(k), again.get(k), what + ", " + k + ": whichever lane ends first");
            }
        }
        return split;
    }

    @Test
    void twoLanesGiveTheWholeBatchsGradientsAndTheSameFloatsOnEveryRun() throws Exception {
        LmTask task = new LmTask(model, 0);
        int[] parts = new int[1];
        Map<String, float[]> whole = gradients(1, task, parts);
        assertEquals(1, parts[0]);
        assertWithinRounding(whole, splitTheSameOnEveryRun(model, task, "f32"), "f32");
    }

    /** Every gradient of {@code split} within float32 rounding (1e-5 relative) of {@code whole}'s. */
    private static void assertWithinRounding(Map<String, float[]> whole, Map<String, float[]> split, String what) {
        for (String k : whole.keySet()) {
            float[] a = whole.get(k);
            float[] b = split.get(k);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-6 + 1e-5 * Math.abs(a[i]), what + ", " + k + "[" + i + "]");
            }
        }
    }

    @Test
    void underLoraTheLanesSplitWithCheckpointingAndBf16_theSameFloatsOnEveryRun() throws Exception {
        CausalLM lora = ModelFiles.load(dir, null, null);
        torch.manual_seed(1);
        lora.addLora(new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false));
        TinyModels.randomiseLoraB(lora, 0.1);
        lora.trainable().values().forEach(t -> t.set_requires_grad(true));
        LmTask task = new LmTask(lora, 0);
        for (boolean bf16 : new boolean[] {false, true}) {
            for (boolean ckpt : new boolean[] {false, true}) {
                String what = (bf16 ? "bf16" : "f32") + (ckpt ? " checkpointed" : "");
                try (Compute c = Compute.use(bf16, ckpt)) {
                    assertTrue(BackwardPass.splittable(lora), what + ": the adapters take one add per part");
                    Map<String, float[]> whole = gradients(lora, 1, task, new int[1]);
                    Map<String, float[]> split = splitTheSameOnEveryRun(lora, task, what);
                    for (String k : whole.keySet()) {
                        float[] a = whole.get(k);
                        float[] b = split.get(k);
                        double tol = bf16 ? 2e-2 : 1e-5;
                        double scale = 0;
                        double diff = 0;
                        for (int i = 0; i < a.length; i++) {
                            scale = Math.max(scale, Math.abs(a[i]));
                            diff = Math.max(diff, Math.abs(a[i] - b[i]));
                        }
                        assertTrue(scale > 0 && diff <= tol * scale, what + ", " + k + ": halves " + diff + " from whole, scale " + scale);
                    }
                }
            }
        }
    }

    @Test
    void aTrainedTiedEmbeddingSplitsWhenCheckpointed_theSameFloatsOnEveryRun() throws Exception {
        for (String family : new String[] {"llama", "gpt2"}) {
            CausalLM tied = family.equals("llama") ? model : dev.keel.model.ModelInit.random(
                    dev.keel.model.io.ConfigFactory.gpt2((int) model.config().vocabSize(), 32, 2, 4, 64, 0, 0), 5, null);
            assertTrue(tied.config().tieWordEmbeddings(), family + ": the fixture ties its head to the embedding");
            tied.parameters().forEach(t -> t.set_requires_grad(true));
            LmTask task = new LmTask(tied, 0);
            Map<String, float[]> whole = gradients(tied, 1, task, new int[1]);     // plain backward, one part
            try (Compute c = Compute.use(false, true)) {
                assertTrue(BackwardPass.splittable(tied), family + ": the head's gradient joins the lookup's: one add");
                assertWithinRounding(whole, splitTheSameOnEveryRun(tied, task, family + " tied, checkpointed"), family);
            }
        }
    }

    @Test
    void anUntiedModelSplitsWhenCheckpointed_theSameFloatsOnEveryRun() throws Exception {
        CausalLM untied = dev.keel.model.ModelInit.random(dev.keel.model.io.ConfigFactory.llama(
                model.config().vocabSize(), 32, 2, 4, 2, 64, 64, 10000, false, 0, 0), 5, null);
        untied.parameters().forEach(t -> t.set_requires_grad(true));
        LmTask task = new LmTask(untied, 0);
        try (Compute c = Compute.use(false, true)) {
            assertTrue(BackwardPass.splittable(untied), "every trained weight takes one add per part");
            splitTheSameOnEveryRun(untied, task, "untied, checkpointed");
        }
    }

    @Test
    void aLossThatIsNotASumOverExamplesRunsWhole() throws Exception {
        LmTask lm = new LmTask(model, 0);
        Task<LmExample> batchWide = new Task<>() {
            @Override
            public double weight(List<LmExample> b) {
                return lm.weight(b);
            }

            @Override
            public Output forward(List<LmExample> b) {
                return lm.forward(b);
            }

            @Override
            public boolean sumsOverExamples() {
                return false;
            }
        };
        int[] parts = new int[1];
        gradients(2, batchWide, parts);
        assertEquals(1, parts[0]);
    }
}
