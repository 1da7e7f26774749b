package dev.keel.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.KeelException;
import dev.keel.data.PreferencePair;
import dev.keel.dist.Distributed;
import dev.keel.data.ScoringRecord;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;

/**
 * The reference model's summed log-probabilities of each pair's chosen and rejected completion, log π_ref(y|x)
 * of DPO (docs/ALGORITHMS.md §3): computed once, in one batched pass, before training, so no reference model
 * stays in memory. Immutable. A pair it does not know is an error, never a silent 0; reference-free training
 * asks for it explicitly with {@link #referenceFree()}.
 */
public final class ReferenceLogps {
    private final Map<PreferencePair, double[]> byPair;   // null: reference-free, every value 0

    private ReferenceLogps(Map<PreferencePair, double[]> byPair) {
        this.byPair = byPair;
    }

    /** log π_ref ≡ 0 (TRL's {@code reference_free=True}). */
    public static ReferenceLogps referenceFree() {
        return new ReferenceLogps(null);
    }

    /** One batched pass of {@code reference} over both completions of every pair (rows sorted by length). */
    public static ReferenceLogps compute(CausalLM reference, List<PreferencePair> pairs, int batchSize, long padId) {
        return compute(reference, pairs, batchSize, padId, Distributed.single());
    }

    /**
     * As {@link #compute(CausalLM, List, int, long)}, each rank of {@code dist} scoring its {@link Distributed#shard
     * shard} of the pairs; the values are then summed over the ranks (zeros outside each shard), so every rank
     * holds all of them.
     */
    public static ReferenceLogps compute(CausalLM reference, List<PreferencePair> pairs, int batchSize, long padId,
                                         Distributed dist) {
        List<PreferencePair> mine = dist.shard(pairs);
        int start = dist.shardStart(pairs.size());
        double[] both = new double[2 * pairs.size()];
        List<ScoringRecord> recs = new ArrayList<>();
        for (PreferencePair p : mine) {
            recs.add(new ScoringRecord(p.line(), p.promptIds(), p.chosenIds()));
            recs.add(new ScoringRecord(p.line(), p.promptIds(), p.rejectedIds()));
        }
        List<SequenceScorer.Score> s = recs.isEmpty() ? List.of() : SequenceScorer.score(reference, recs, batchSize, padId);
        for (int i = 0; i < mine.size(); i++) {
            both[start + i] = s.get(2 * i).logProb();
            both[pairs.size() + start + i] = s.get(2 * i + 1).logProb();
        }
        both = dist.sum(both);
        return of(pairs, Arrays.copyOfRange(both, 0, pairs.size()), Arrays.copyOfRange(both, pairs.size(), both.length));
    }

    /** Values given in the order of {@code pairs}. */
    public static ReferenceLogps of(List<PreferencePair> pairs, double[] chosen, double[] rejected) {
        if (chosen.length != pairs.size() || rejected.length != pairs.size()) {
            throw new IllegalArgumentException("reference log-probs for " + chosen.length + " and " + rejected.length
                    + " completions, but " + pairs.size() + " pairs");
        }
        Map<PreferencePair, double[]> m = new IdentityHashMap<>();
        for (int i = 0; i < pairs.size(); i++) {
            m.put(pairs.get(i), new double[] {chosen[i], rejected[i]});
        }
        return new ReferenceLogps(m);
    }

    public boolean isReferenceFree() {
        return byPair == null;
    }

    /** log π_ref(y_w|x) of {@code p}. */
    public double chosen(PreferencePair p) {
        return of(p)[0];
    }

    /** log π_ref(y_l|x) of {@code p}. */
    public double rejected(PreferencePair p) {
        return of(p)[1];
    }

    /** (2B) float32: the chosen values of {@code batch}, then the rejected ones (the layout of a pair batch). */
    public Tensor forBatch(List<PreferencePair> batch, Device device) {
        int n = batch.size();
        float[] ref = new float[2 * n];
        for (int i = 0; i < n; i++) {
            ref[i] = (float) chosen(batch.get(i));
            ref[n + i] = (float) rejected(batch.get(i));
        }
        return Tensors.floats(ref, 2 * n).to(device, ScalarType.Float);
    }

    private double[] of(PreferencePair p) {
        if (byPair == null) {
            return new double[2];
        }
        double[] v = byPair.get(p);
        if (v == null) {
            throw new KeelException("no reference log-probs for the pair of line " + p.line()
                    + ": compute them over every pair the DPO task will see");
        }
        return v;
    }

    /** Writes the values of {@code pairs}, in order, as a JSON array of [chosen, rejected]. */
    public void save(Path file, List<PreferencePair> pairs) {
        ArrayNode out = new ObjectMapper().createArrayNode();
        for (PreferencePair p : pairs) {
            out.addArray().add(chosen(p)).add(rejected(p));
        }
        ModelFiles.writeJson(file, out);
    }

    /** Reads what {@link #save} wrote for the same {@code pairs} in the same order. */
    public static ReferenceLogps load(Path file, List<PreferencePair> pairs) {
        JsonNode a;
        try {
            a = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new KeelException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (a == null || !a.isArray() || a.size() != pairs.size()) {
            throw new KeelException(file + ": holds " + (a == null || !a.isArray() ? "no array" : a.size() + " pairs")
                    + " but the data has " + pairs.size() + "; resume with the same data");
        }
        double[] c = new double[pairs.size()];
        double[] r = new double[pairs.size()];
        for (int i = 0; i < pairs.size(); i++) {
            JsonNode e = a.get(i);
            if (!e.isArray() || e.size() != 2 || !e.get(0).isNumber() || !e.get(1).isNumber()) {
                throw new KeelException(file + ": entry " + (i + 1) + " is not [chosen, rejected]");
            }
            c[i] = e.get(0).asDouble();
            r[i] = e.get(1).asDouble();
        }
        return of(pairs, c, r);
    }
}
