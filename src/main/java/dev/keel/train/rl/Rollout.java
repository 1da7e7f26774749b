package dev.keel.train.rl;

import java.util.Arrays;
import java.util.List;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.generate.Generation;
import dev.keel.loss.LogProbs;
import dev.keel.model.AttentionMask;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/**
 * One batch of sampled sequences laid out for the losses: left-padded queries of width P, then right-padded
 * responses of width R. Position t of a response is predicted by the model's output at column P - 1 + t.
 */
public final class Rollout {
    final Tensor ids;        // (B, P + R)
    final Tensor keep;       // (B, P + R) 1 for real tokens
    final Tensor respMask;   // (B, R) 1 for response tokens, EOS included
    final Tensor respIds;    // (B, R)
    final int p;
    final int r;
    final long[][] responses;
    final boolean[] endedWithEos;

    private Rollout(Tensor ids, Tensor keep, Tensor respMask, Tensor respIds, int p, int r, long[][] responses,
                    boolean[] endedWithEos) {
        this.ids = ids;
        this.keep = keep;
        this.respMask = respMask;
        this.respIds = respIds;
        this.p = p;
        this.r = r;
        this.responses = responses;
        this.endedWithEos = endedWithEos;
    }

    static Rollout of(List<long[]> queries, Generation g, long padId, Device device) {
        int b = queries.size();
        int p = 0;
        int r = 1;
        for (int i = 0; i < b; i++) {
            p = Math.max(p, queries.get(i).length);
            r = Math.max(r, g.tokens().get(i).length);
        }
        long[][] ids = new long[b][p + r];
        long[][] keep = new long[b][p + r];
        long[][] mask = new long[b][r];
        long[][] resp = new long[b][r];
        long[][] responses = new long[b][];
        boolean[] eos = new boolean[b];
        for (int i = 0; i < b; i++) {
            long[] q = queries.get(i);
            long[] a = g.tokens().get(i);
            responses[i] = a;
            eos[i] = g.finish().get(i) == Generation.Finish.EOS;
            Arrays.fill(ids[i], padId);
            Arrays.fill(resp[i], padId);
            System.arraycopy(q, 0, ids[i], p - q.length, q.length);
            Arrays.fill(keep[i], p - q.length, p, 1);
            System.arraycopy(a, 0, ids[i], p, a.length);
            System.arraycopy(a, 0, resp[i], 0, a.length);
            Arrays.fill(keep[i], p, p + a.length, 1);
            Arrays.fill(mask[i], 0, a.length, 1);
        }
        return new Rollout(Tensors.longs(ids, device), Tensors.longs(keep, device), Tensors.longs(mask, device),
                Tensors.longs(resp, device), p, r, responses, eos);
    }

    /** Rows {@code index} of this rollout (for minibatches). */
    Rollout select(long[] index) {
        Tensor idx = Tensors.longs(index, ids.device());
        long[][] resp = new long[index.length][];
        boolean[] eos = new boolean[index.length];
        for (int i = 0; i < index.length; i++) {
            resp[i] = responses[(int) index[i]];
            eos[i] = endedWithEos[(int) index[i]];
        }
        return new Rollout(ids.index_select(0, idx), keep.index_select(0, idx), respMask.index_select(0, idx),
                respIds.index_select(0, idx), p, r, resp, eos);
    }

    /** Rows {@code from} to {@code to} (exclusive) of this rollout, as views: a lane's share of a scoring pass. */
    Rollout rows(int from, int to) {
        int n = to - from;
        return new Rollout(ids.narrow(0, from, n), keep.narrow(0, from, n), respMask.narrow(0, from, n),
                respIds.narrow(0, from, n), p, r, Arrays.copyOfRange(responses, from, to),
                Arrays.copyOfRange(endedWithEos, from, to));
    }

    /**
     * The sampler's log-probs of the response tokens (B, R), 0 at padding: {@code g}'s {@link Generation#logProbs},
     * one per token of each response this rollout was laid out from.
     */
    Tensor sampledLogProbs(Generation g) {
        float[] lp = new float[responses.length * r];
        for (int i = 0; i < responses.length; i++) {
            float[] row = g.logProbs().get(i);
            if (row.length != responses[i].length) {
                throw new IllegalArgumentException("row " + i + ": " + row.length + " log-probs for "
                        + responses[i].length + " sampled tokens");
            }
            System.arraycopy(row, 0, lp, i * r, row.length);
        }
        return Tensors.floats(lp, responses.length, r).to(ids.device(), ScalarType.Float);
    }

    /** Final hidden states (B, R, D) at the columns that predict each response token. */
    Tensor hidden(CausalLM model) {
        Tensor pos = AttentionMask.positionIds(keep);
        Tensor mask = AttentionMask.causal(keep, ids.size(1), model.config().slidingWindow());
        Tensor cols = torch.arange(Tensors.s((long) p - 1), Tensors.s((long) p - 1 + r),
                Tensors.options(ScalarType.Long, ids.device())).view(1, r).expand(ids.size(0), r);
        return model.hiddenAt(ids, pos, mask, cols);
    }

    /** Log-probs (B, R) of the response tokens under logits / T, and the logits themselves (B, R, V). */
    Tensor[] logProbs(CausalLM model, double temperature) {
        Tensor logits = model.logits(hidden(model)).to(ScalarType.Float);
        if (temperature != 1.0) {
            logits = logits.div(Tensors.s(temperature));
        }
        return new Tensor[] {LogProbs.tokenLogProbs(logits, respIds), logits};
    }

    /** Value predictions (B, R) of a scalar-head model at the same columns. */
    Tensor values(CausalLM valueModel) {
        return valueModel.scores(hidden(valueModel)).to(ScalarType.Float);
    }

    /** Index of each row's last response token (B) as int64. */
    Tensor lastIndex() {
        return Tensors.sum(respMask, 1, false, ScalarType.Long).sub(Tensors.s(1L)).clamp_min(Tensors.s(0L));
    }

    /** A (B, R) tensor that is {@code perSequence[i]} at row i's last response token and 0 elsewhere. */
    Tensor atLast(Tensor perSequence) {
        Tensor z = torch.zeros_like(respMask.to(ScalarType.Float));
        return z.scatter(1, lastIndex().view(-1, 1), perSequence.view(-1, 1).to(ScalarType.Float));
    }
}
