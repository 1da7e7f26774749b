package dev.keel.train;

import java.util.List;

import org.bytedeco.pytorch.Tensor;

import dev.keel.data.LmExample;
import dev.keel.loss.LmLoss;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;

/** Pretraining and SFT: next-token cross-entropy over the tokens the mask marks. */
public final class LmTask implements Task<LmExample> {
    private final CausalLM model;
    private final long padId;

    public LmTask(CausalLM model, long padId) {
        this.model = model;
        this.padId = padId;
    }

    @Override
    public double weight(List<LmExample> batch) {
        double n = 0;
        for (LmExample e : batch) {
            n += e.countedTokens();
        }
        return n;
    }

    @Override
    public Output forward(List<LmExample> batch) {
        int t = 0;
        for (LmExample e : batch) {
            t = Math.max(t, e.ids().length);
        }
        long[][] ids = new long[batch.size()][t];
        long[][] keep = new long[batch.size()][t];
        long[][] mask = new long[batch.size()][t];
        for (int i = 0; i < batch.size(); i++) {
            LmExample e = batch.get(i);
            java.util.Arrays.fill(ids[i], padId);
            System.arraycopy(e.ids(), 0, ids[i], 0, e.ids().length);
            System.arraycopy(e.lossMask(), 0, mask[i], 0, e.lossMask().length);
            java.util.Arrays.fill(keep[i], 0, e.ids().length, 1);
        }
        CompletionForward f = CompletionForward.of(model, Tensors.longs(ids, model.device()),
                Tensors.longs(keep, model.device()), Tensors.longs(mask, model.device()));
        LmLoss.Sums s = LmLoss.sums(f.logits(), f.ids(), f.mask());
        long seen = 0;   // TRL's num_tokens: every token fed to the model, prompt and completion
        for (LmExample e : batch) {
            seen += e.ids().length;
        }
        return new Output(s.lossSum(), List.of(Metric.sum("mean_token_accuracy", Tensors.item(s.correct()))), seen);
    }
}
