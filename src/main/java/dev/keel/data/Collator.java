package dev.keel.data;

import java.util.List;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

import dev.keel.tensor.Tensors;

/** Pads (prompt, completion) id pairs into batch tensors. */
public final class Collator {
    private Collator() {}

    /**
     * A right-padded batch.
     *
     * @param inputIds       (B, T) prompt then completion, then {@code padId}
     * @param keep           (B, T) 1 for real tokens, 0 for padding
     * @param completionMask (B, T) 1 where the token is a completion token (whose log-prob counts)
     */
    public record Batch(Tensor inputIds, Tensor keep, Tensor completionMask) {}

    /** Concatenates each prompt and completion and pads on the right to the longest row. */
    public static Batch rightPad(List<long[]> prompts, List<long[]> completions, long padId, Device device) {
        int b = prompts.size();
        int t = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, prompts.get(i).length + completions.get(i).length);
        }
        long[][] ids = new long[b][t];
        long[][] keep = new long[b][t];
        long[][] comp = new long[b][t];
        for (int i = 0; i < b; i++) {
            long[] p = prompts.get(i);
            long[] c = completions.get(i);
            java.util.Arrays.fill(ids[i], padId);
            System.arraycopy(p, 0, ids[i], 0, p.length);
            System.arraycopy(c, 0, ids[i], p.length, c.length);
            for (int j = 0; j < p.length + c.length; j++) {
                keep[i][j] = 1;
                comp[i][j] = j >= p.length ? 1 : 0;
            }
        }
        return new Batch(Tensors.longs(ids, device), Tensors.longs(keep, device), Tensors.longs(comp, device));
    }
}
