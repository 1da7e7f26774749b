package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Device;

import dev.keel.data.Collator;
import dev.keel.data.PreferencePair;

/**
 * Chosen and rejected completions of a batch of pairs in one padded batch of 2B rows (chosen first), so both
 * go through one forward pass.
 */
final class PairBatch {
    private PairBatch() {}

    static Collator.Batch collate(List<PreferencePair> pairs, long padId, Device device) {
        List<long[]> prompts = new ArrayList<>();
        List<long[]> completions = new ArrayList<>();
        for (PreferencePair p : pairs) {
            prompts.add(p.promptIds());
            completions.add(p.chosenIds());
        }
        for (PreferencePair p : pairs) {
            prompts.add(p.promptIds());
            completions.add(p.rejectedIds());
        }
        return Collator.rightPad(prompts, completions, padId, device);
    }
}
