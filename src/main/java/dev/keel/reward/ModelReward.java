package dev.keel.reward;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

import dev.keel.data.Collator;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;

/**
 * A trained reward model ({@code ...ForSequenceClassification}, one label): each (prompt, completion) is
 * tokenized as in training (prompt with special tokens, completion without, then EOS) and scored at its last
 * token, in length-sorted padded batches.
 */
public final class ModelReward implements RewardSource {
    private final Path dir;
    private final CausalLM model;
    private final Tokenizer tok;
    private final int batchSize;

    public ModelReward(Path dir, DType dtype, int batchSize) {
        this(dir, null, dtype, batchSize);
    }

    /**
     * A reward model that is {@code dir} with a LoRA adapter ({@code SEQ_CLS}, trained head included) on it; none when
     * {@code adapter} is null, and then {@code dir} must be a reward model.
     */
    public ModelReward(Path dir, Path adapter, DType dtype, int batchSize) {
        this.dir = dir;
        if (adapter == null && Head.of(ModelFiles.readConfig(dir).raw()) != Head.SCORE) {
            throw new dev.keel.KeelException(dir + ": is a language model, not a reward model (no score head); "
                    + "train one with 'keel reward'");
        }
        this.model = adapter == null ? ModelFiles.load(dir, dtype, null, Head.SCORE)
                : dev.keel.model.io.AdapterFiles.loadWithBase(dir, adapter, dtype, Head.SCORE);
        this.tok = Tokenizer.load(dir);
        this.batchSize = batchSize;
    }

    @Override
    public String name() {
        return dir.toString();
    }

    /** The reward model's folder. */
    public Path dir() {
        return dir;
    }

    /** Scores complete texts: every completion is taken to have ended (EOS appended), as in training pairs. */
    @Override
    public double[] score(List<String> prompts, List<String> completions) {
        boolean[] ended = new boolean[completions.size()];
        java.util.Arrays.fill(ended, true);
        return score(prompts, completions, ended);
    }

    /** EOS is appended only to completions that ended; one cut by the length limit is scored as cut. */
    @Override
    public double[] score(List<String> prompts, List<String> completions, boolean[] ended) {
        int n = prompts.size();
        List<long[]> p = new ArrayList<>();
        List<long[]> c = new ArrayList<>();
        Long eos = tok.eosId();
        for (int i = 0; i < n; i++) {
            long[] pi = tok.encode(prompts.get(i), true);
            if (pi.length == 0 && tok.bosId() != null) {
                pi = new long[] {tok.bosId()};
            }
            long[] ci = tok.encode(completions.get(i), false);
            if (eos != null && ended[i]) {
                ci = java.util.Arrays.copyOf(ci, ci.length + 1);
                ci[ci.length - 1] = eos;
            }
            p.add(pi);
            c.add(ci);
        }
        return scoreIds(p, c);
    }

    /** The ids path when {@code policyTok} is this reward model's own tokenizer (same fingerprint). */
    @Override
    public Optional<IdsScorer> ids(Tokenizer policyTok) {
        return policyTok.fingerprint().equals(tok.fingerprint()) ? Optional.of(this::scoreIds) : Optional.empty();
    }

    /** Scores pre-tokenized (prompt, completion) pairs. */
    public double[] scoreIds(List<long[]> prompts, List<long[]> completions) {
        int n = prompts.size();
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, Comparator.comparingInt(i -> prompts.get(i).length + completions.get(i).length));
        double[] out = new double[n];
        long pad = tok.padId() != null ? tok.padId() : 0;
        for (int s = 0; s < n; s += batchSize) {
            int e = Math.min(n, s + batchSize);
            List<long[]> bp = new ArrayList<>();
            List<long[]> bc = new ArrayList<>();
            for (int i = s; i < e; i++) {
                bp.add(prompts.get(order[i]));
                bc.add(completions.get(order[i]));
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                Collator.Batch b = Collator.rightPad(bp, bc, pad, model.device());
                float[] r = Tensors.toFloats(model.sequenceScores(b.inputIds(), b.keep()));
                for (int i = s; i < e; i++) {
                    out[order[i]] = r[i - s];
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        tok.close();
    }
}
