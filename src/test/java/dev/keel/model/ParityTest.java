package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.keel.TestSupport;
import dev.keel.data.ScoringRecord;
import dev.keel.train.SequenceScorer;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;

/**
 * Keel's forward pass against logits from the PyTorch reference (scripts/reference/hf_reference.py, which
 * follows transformers' modelling code), on random-weight checkpoints of each supported family.
 */
class ParityTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static List<String> models() {
        return TestSupport.PARITY_MODELS;
    }

    private static Path dir(String name) {
        return TestSupport.fixture("parity/" + name);
    }

    private static JsonNode reference(String name) {
        return TestSupport.readJson(dir(name).resolve("reference.json"));
    }

    /** Logits (T, V) of one unpadded sequence. */
    private static float[] logitsAlone(CausalLM model, long[] ids) {
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor x = Tensors.longs(new long[][] {ids}, null);
            Tensor keep = Tensors.longs(new long[][] {ones(ids.length)}, null);
            return Tensors.toFloats(model.forward(x, keep));
        }
    }

    private static long[] ones(int n) {
        long[] o = new long[n];
        java.util.Arrays.fill(o, 1);
        return o;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void logitsMatchThePyTorchReferenceToOneInTenThousand(String name) {
        CausalLM model = ModelFiles.load(dir(name), null, null);
        JsonNode ref = reference(name);
        List<long[]> inputs = TestSupport.longRows(ref.get("input_ids"));
        for (int s = 0; s < inputs.size(); s++) {
            float[] got = logitsAlone(model, inputs.get(s));
            JsonNode rows = ref.get("logits").get(s);
            int v = rows.get(0).size();
            assertEquals(rows.size() * v, got.length, "logits size of sequence " + s);
            double maxRel = 0;
            for (int t = 0; t < rows.size(); t++) {
                for (int j = 0; j < v; j++) {
                    double want = rows.get(t).get(j).asDouble();
                    double err = Math.abs(got[t * v + j] - want) / Math.max(1.0, Math.abs(want));
                    maxRel = Math.max(maxRel, err);
                }
            }
            assertTrue(maxRel <= 1e-4, name + " sequence " + s + ": max relative error " + maxRel);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void greedyTwentyTokensMatchTheReference(String name) {
        CausalLM model = ModelFiles.load(dir(name), null, null);
        JsonNode ref = reference(name);
        List<long[]> inputs = TestSupport.longRows(ref.get("input_ids"));
        for (int s = 0; s < inputs.size(); s++) {
            long[] seq = inputs.get(s);
            long[] out = new long[20];
            for (int i = 0; i < 20; i++) {
                float[] logits = logitsAlone(model, seq);
                int v = model.config().vocabSize();
                int best = 0;
                for (int j = 1; j < v; j++) {
                    if (logits[(seq.length - 1) * v + j] > logits[(seq.length - 1) * v + best]) {
                        best = j;
                    }
                }
                out[i] = best;
                seq = java.util.Arrays.copyOf(seq, seq.length + 1);
                seq[seq.length - 1] = best;
            }
            assertArrayEquals(TestSupport.longs(ref.get("greedy").get(s)), out, name + " sequence " + s);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void recordsScoredAloneAndInAPaddedBatchAgree(String name) {
        CausalLM model = ModelFiles.load(dir(name), null, null);
        List<long[]> inputs = TestSupport.longRows(reference(name).get("input_ids"));
        List<ScoringRecord> records = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            long[] ids = inputs.get(i);
            int cut = 2 + i; // prompts of different lengths
            records.add(new ScoringRecord(i + 1, java.util.Arrays.copyOf(ids, cut),
                    java.util.Arrays.copyOfRange(ids, cut, ids.length)));
        }
        List<SequenceScorer.Score> batched = SequenceScorer.score(model, records, records.size(), 0);
        for (int i = 0; i < records.size(); i++) {
            SequenceScorer.Score alone = SequenceScorer.score(model, List.of(records.get(i)), 1, 0).get(0);
            assertEquals(records.get(i).completionIds().length, alone.numTokens());
            assertEquals(alone.numTokens(), batched.get(i).numTokens());
            double diff = Math.abs(alone.logProb() - batched.get(i).logProb());
            assertTrue(diff <= 1e-5 * Math.max(1, Math.abs(alone.logProb())),
                    name + " record " + i + ": alone " + alone.logProb() + " batched " + batched.get(i).logProb());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void leftPaddedRowsGetTheSameLogitsAsAlone(String name) {
        CausalLM model = ModelFiles.load(dir(name), null, null);
        List<long[]> inputs = TestSupport.longRows(reference(name).get("input_ids"));
        int t = inputs.stream().mapToInt(a -> a.length).max().orElseThrow();
        long[][] ids = new long[inputs.size()][t];
        long[][] keep = new long[inputs.size()][t];
        for (int i = 0; i < inputs.size(); i++) {
            long[] row = inputs.get(i);
            int pad = t - row.length;
            System.arraycopy(row, 0, ids[i], pad, row.length);
            for (int j = pad; j < t; j++) {
                keep[i][j] = 1;
            }
        }
        int v = model.config().vocabSize();
        try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            float[] batch = Tensors.toFloats(model.forward(Tensors.longs(ids, null), Tensors.longs(keep, null)));
            for (int i = 0; i < inputs.size(); i++) {
                float[] alone = logitsAlone(model, inputs.get(i));
                int pad = t - inputs.get(i).length;
                for (int pos = 0; pos < inputs.get(i).length; pos++) {
                    for (int j = 0; j < v; j++) {
                        float a = alone[pos * v + j];
                        float b = batch[(i * t + pad + pos) * v + j];
                        assertEquals(a, b, 1e-5 * Math.max(1, Math.abs(a)), name + " row " + i + " pos " + pos);
                    }
                }
            }
        }
    }
}
