package dev.keel.train.rl;

import org.bytedeco.pytorch.Tensor;

/**
 * The targets of the critic-free methods (RLOO, GRPO): one advantage per sequence.
 *
 * @param advantages (B) detached
 */
public record SequenceAdvantages(Tensor advantages) {
    /** Rows {@code index}. */
    public SequenceAdvantages select(Tensor index) {
        return new SequenceAdvantages(advantages.index_select(0, index));
    }
}
