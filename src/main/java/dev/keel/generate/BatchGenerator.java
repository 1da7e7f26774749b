package dev.keel.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.model.AttentionMask;
import dev.keel.model.CausalLM;
import dev.keel.model.DecodingCopies;
import dev.keel.model.KvCache;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;

/**
 * Batched sampling with a KV cache. Prompts of different lengths are left-padded (position ids count real
 * tokens only, so padding changes nothing); the prompt pass fills the cache, then each step feeds one token
 * per live sequence. A sequence that ends (EOS, a stop criterion, or the length limit) leaves the batch:
 * its rows are dropped from the cache, so finished sequences stop costing compute. Ids in, ids out:
 * generation knows nothing of tokenization.
 *
 * <p>Memory: each step runs in its own {@code PointerScope}; the few tensors carried to the next step
 * (the attention mask columns, the ids, the cache) hold a native reference of their own, released when
 * replaced, so native memory stays flat however many tokens are generated.
 */
public final class BatchGenerator {
    private BatchGenerator() {}

    /** The tensors carried from one step to the next. */
    private static final class State implements AutoCloseable {
        Tensor feed;    // (B, T) what the next forward pass takes: the prompt, then one token per step
        Tensor keep;    // (B, S) 1 for real tokens over every column so far
        Tensor allIds;  // (B, S) every id so far (used when recomputing without a cache)
        int[] live;     // batch row -> prompt index

        void set(Tensor feed, Tensor keep, Tensor allIds) {
            this.feed = swap(this.feed, feed);
            this.keep = swap(this.keep, keep);
            this.allIds = swap(this.allIds, allIds);
        }

        private static Tensor swap(Tensor old, Tensor fresh) {
            if (fresh == null) {
                if (old != null) {
                    old.releaseReference();
                }
                return null;
            }
            fresh.retainReference();
            if (old != null) {
                old.releaseReference();
            }
            return fresh;
        }

        @Override
        public void close() {
            set(null, null, null);
        }
    }

    public static Generation generate(CausalLM model, List<long[]> prompts, SamplingConfig cfg, StopCriterion stop,
                                      long padId) {
        return generate(model, prompts, cfg, stop, padId, null);
    }

    /**
     * As {@link #generate(CausalLM, List, SamplingConfig, StopCriterion, long)}, each row drawing from a generator
     * of its own seeded with {@code rowSeeds[i]} (null: one generator seeded with {@code cfg.seed()} for the
     * batch). A row then samples the same completion whatever rows share its batch: data-parallel RL splits a
     * rollout over ranks and samples what one process would.
     *
     * <p>With generators per row the rows are independent, so with two {@link Lanes} the two halves of the batch
     * are generated side by side, each on a core of its own: a decoding step's products are too small to share
     * two threads well (the rows of a half, left-padded to that half's longest prompt, compute the same values).
     * Greedy rows are as independent; they take lanes where {@link CausalLM#decodesGreedyInLanes()} says (packed
     * weights, whose copies the halves share, {@link DecodingCopies}: otherwise each lane's every product packs the
     * weights again for OpenBLAS; greedy at the SmolLM2-135M shape, batch 16, float32: 178 tok/s in one batch, 145 in
     * two lanes).
     */
    public static Generation generate(CausalLM model, List<long[]> prompts, SamplingConfig cfg, StopCriterion stop,
                                      long padId, long[] rowSeeds) {
        int n = prompts.size();
        boolean independentRows = rowSeeds != null && rowSeeds.length == n
                || rowSeeds == null && cfg.isGreedy() && model.decodesGreedyInLanes();
        if (independentRows && n >= 2 && Lanes.count() >= 2 && model.device().is_cpu()) {
            List<List<long[]>> halves = Lanes.halves(prompts);
            int half = halves.get(0).size();
            List<Generation> parts;
            try (DecodingCopies copies = new DecodingCopies()) {  // one set of weight copies for both halves
                parts = Lanes.run(List.of(
                        () -> generateRows(model, halves.get(0), cfg, stop, padId,
                                rowSeeds == null ? null : Arrays.copyOf(rowSeeds, half), copies),
                        () -> generateRows(model, halves.get(1), cfg, (i, g) -> stop.shouldStop(half + i, g),
                                padId, rowSeeds == null ? null : Arrays.copyOfRange(rowSeeds, half, n), copies)));
            }
            List<long[]> tokens = new ArrayList<>(parts.get(0).tokens());
            List<float[]> logProbs = new ArrayList<>(parts.get(0).logProbs());
            List<Generation.Finish> finish = new ArrayList<>(parts.get(0).finish());
            tokens.addAll(parts.get(1).tokens());
            logProbs.addAll(parts.get(1).logProbs());
            finish.addAll(parts.get(1).finish());
            return new Generation(tokens, logProbs, finish);
        }
        return generateRows(model, prompts, cfg, stop, padId, rowSeeds, null);
    }

    /** @param copies the weight copies shared with the generation's other part, or null for the cache's own */
    private static Generation generateRows(CausalLM model, List<long[]> prompts, SamplingConfig cfg, StopCriterion stop,
                                           long padId, long[] rowSeeds, DecodingCopies copies) {
        int n = prompts.size();
        if (n == 0) {
            return new Generation(List.of(), List.of(), List.of());
        }
        int maxPrompt = 0;
        int minPrompt = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            if (prompts.get(i).length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty; start it with a BOS token");
            }
            maxPrompt = Math.max(maxPrompt, prompts.get(i).length);
            minPrompt = Math.min(minPrompt, prompts.get(i).length);
        }
        boolean padded = minPrompt < maxPrompt;
        int window = model.config().slidingWindow();
        // the padding mask is needed only for padded batches and sliding windows; otherwise positions are
        // simply past..past+T-1 and attention is plain causal
        boolean trackKeep = padded || window > 0;
        if ((long) maxPrompt + cfg.maxNewTokens() > model.config().maxPositions()) {
            throw new IllegalArgumentException("prompt (" + maxPrompt + " tokens) + max new tokens ("
                    + cfg.maxNewTokens() + ") exceeds the model's " + model.config().maxPositions() + " positions");
        }
        long[][] out = new long[n][cfg.maxNewTokens()];
        float[][] lps = new float[n][cfg.logProbs() ? cfg.maxNewTokens() : 0];
        int[] len = new int[n];
        Generation.Finish[] finish = new Generation.Finish[n];
        Device device = model.device();
        Generator rng = torch.make_generator_cpu(cfg.seed());
        java.util.SplittableRandom[] rowRandom = rowRandoms(rowSeeds, n);
        try (NoGradGuard ng = new NoGradGuard();
             KvCache cache = cfg.useCache() ? new KvCache(model.config().numLayers(), maxPrompt + cfg.maxNewTokens(), copies) : null;
             State st = new State()) {
            try (PointerScope scope = new PointerScope()) {
                long[][] ids = new long[n][maxPrompt];
                long[][] keepRows = new long[n][maxPrompt];
                for (int i = 0; i < n; i++) {
                    long[] p = prompts.get(i);
                    Arrays.fill(ids[i], padId);
                    System.arraycopy(p, 0, ids[i], maxPrompt - p.length, p.length);
                    Arrays.fill(keepRows[i], maxPrompt - p.length, maxPrompt, 1);
                }
                Tensor idsT = Tensors.longs(ids, device);
                st.set(idsT, trackKeep ? Tensors.longs(keepRows, device) : null, idsT);
                st.live = new int[n];
                for (int i = 0; i < n; i++) {
                    st.live[i] = i;
                }
            }
            for (int step = 0; step < cfg.maxNewTokens() && st.live.length > 0; step++) {
                try (PointerScope scope = new PointerScope()) {
                    Tensor feed = cache != null ? st.feed : st.allIds;
                    long newLen = feed.size(1);
                    long cols = maxPrompt + step;                                            // columns so far
                    Tensor pos;
                    Tensor mask = null;
                    if (trackKeep) {
                        Tensor all = AttentionMask.positionIds(st.keep);
                        pos = all.narrow(1, all.size(1) - newLen, newLen);
                        // without padding or a binding window, attention is plain causal: no mask to build or apply
                        boolean plain = !padded && cols <= window;
                        mask = plain ? null : AttentionMask.causal(st.keep, newLen, window);
                    } else {
                        pos = torch.arange(Tensors.s(cols - newLen), Tensors.s(cols), Tensors.options(ScalarType.Long, device))
                                .view(1, -1);
                    }
                    Tensor hidden = model.hidden(feed, pos, mask, cache);
                    Tensor logits = model.logits(hidden.narrow(1, newLen - 1, 1).squeeze(1), cache); // (B, V)
                    Tensor next = rowRandom == null ? Sampler.next(logits, cfg, rng)             // (B)
                            : Sampler.next(logits, cfg, uniforms(rowRandom, st.live, device));
                    long[] tok = Tensors.toLongs(next);
                    float[] lp = cfg.logProbs()
                            ? Tensors.toFloats(Sampler.logProbs(logits, next, cfg.isGreedy() ? 1.0 : cfg.temperature()))
                            : null;
                    List<Integer> stay = new ArrayList<>();
                    for (int r = 0; r < st.live.length; r++) {
                        int i = st.live[r];
                        out[i][len[i]] = tok[r];
                        if (lp != null) {
                            lps[i][len[i]] = lp[r];
                        }
                        len[i]++;
                        if (cfg.eosTokenIds().contains(tok[r])) {
                            finish[i] = Generation.Finish.EOS;
                        } else if (stop.shouldStop(i, Arrays.copyOf(out[i], len[i]))) {
                            finish[i] = Generation.Finish.STOP;
                        } else if (len[i] == cfg.maxNewTokens()) {
                            finish[i] = Generation.Finish.LENGTH;
                        } else {
                            stay.add(r);
                        }
                    }
                    Tensor col = next.view(-1, 1);
                    Tensor keep = trackKeep ? torch.cat(new TensorVector(st.keep, torch.ones_like(col)), 1) : null;
                    Tensor allIds = cache != null ? st.allIds : torch.cat(new TensorVector(st.allIds, col), 1);
                    if (stay.size() < st.live.length) {
                        Tensor index = Tensors.longs(stay.stream().mapToLong(Integer::longValue).toArray(), device);
                        col = col.index_select(0, index);
                        keep = keep == null ? null : keep.index_select(0, index);
                        allIds = allIds.index_select(0, index);
                        if (cache != null && !stay.isEmpty()) {
                            cache.select(index);
                        }
                        st.live = stay.stream().mapToInt(r -> st.live[r]).toArray();
                    }
                    st.set(col, keep, allIds);
                }
            }
        }
        List<long[]> tokens = new ArrayList<>();
        List<float[]> logProbs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            tokens.add(Arrays.copyOf(out[i], len[i]));
            if (cfg.logProbs()) {
                logProbs.add(Arrays.copyOf(lps[i], len[i]));
            }
        }
        return new Generation(tokens, logProbs, List.of(finish));
    }

    private static java.util.SplittableRandom[] rowRandoms(long[] rowSeeds, int n) {
        if (rowSeeds == null) {
            return null;
        }
        if (rowSeeds.length != n) {
            throw new IllegalArgumentException(rowSeeds.length + " row seeds for " + n + " prompts");
        }
        java.util.SplittableRandom[] r = new java.util.SplittableRandom[n];
        for (int i = 0; i < n; i++) {
            r[i] = new java.util.SplittableRandom(rowSeeds[i]);
        }
        return r;
    }

    /** (live, 1) float64: the next uniform of each live row's own generator. */
    private static Tensor uniforms(java.util.SplittableRandom[] rowRandom, int[] live, Device device) {
        double[] u = new double[live.length];
        for (int r = 0; r < live.length; r++) {
            u[r] = rowRandom[live[r]].nextDouble();
        }
        Tensor t = Tensors.empty(new long[] {live.length, 1}, ScalarType.Double);
        new org.bytedeco.javacpp.DoublePointer(t.data_ptr()).put(u, 0, u.length);
        return device.is_cpu() ? t : t.to(device, ScalarType.Double);
    }
}
