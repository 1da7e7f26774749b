package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** A data-parallel rank's share of a minibatch's loss, by hand. */
class RlUpdaterShareTest {
    // the whole rollout: 4 rows with 6, 2, 6 and 4 response tokens; this rank holds rows 0 and 1
    private static final double[] TOKENS = {6, 2, 6, 4};

    @Test
    void aTokenMeanWeighsByTokensAndASequenceMeanByRows() {
        List<Integer> minibatch = List.of(3, 0, 1, 2);
        assertEquals(8.0 / 18, RlUpdater.share(RlAlgorithm.LossMean.TOKENS, minibatch, 0, 2, TOKENS), 1e-12);
        assertEquals(2.0 / 4, RlUpdater.share(RlAlgorithm.LossMean.SEQUENCES, minibatch, 0, 2, TOKENS), 1e-12);
        // the other rank (rows 2 and 3) holds the rest, so the shares add up to the whole minibatch
        assertEquals(10.0 / 18, RlUpdater.share(RlAlgorithm.LossMean.TOKENS, minibatch, 2, 2, TOKENS), 1e-12);
        assertEquals(2.0 / 4, RlUpdater.share(RlAlgorithm.LossMean.SEQUENCES, minibatch, 2, 2, TOKENS), 1e-12);
    }

    @Test
    void aMinibatchOfOtherRowsGivesNoShareAndOneProcessAll() {
        assertEquals(0, RlUpdater.share(RlAlgorithm.LossMean.TOKENS, List.of(2, 3), 0, 2, TOKENS), 1e-12);
        assertEquals(0, RlUpdater.share(RlAlgorithm.LossMean.SEQUENCES, List.of(2, 3), 0, 2, TOKENS), 1e-12);
        assertEquals(1, RlUpdater.share(RlAlgorithm.LossMean.TOKENS, List.of(1, 2), 0, 4, TOKENS), 1e-12);
    }

    @Test
    void rlooAndGrpoDeclareWhatTheirLossesAverage() {
        assertEquals(RlAlgorithm.LossMean.SEQUENCES, Rloo.of(2).lossMean());
        assertEquals(RlAlgorithm.LossMean.TOKENS, Grpo.of(2).lossMean());        // dapo, TRL's default
        assertEquals(RlAlgorithm.LossMean.SEQUENCES, new Grpo(2, dev.keel.loss.Grpo.LossType.GRPO,
                dev.keel.loss.Grpo.ScaleRewards.GROUP, java.util.OptionalDouble.empty(), false).lossMean());
        assertEquals(RlAlgorithm.LossMean.SEQUENCES, new Grpo(2, dev.keel.loss.Grpo.LossType.DR_GRPO,
                dev.keel.loss.Grpo.ScaleRewards.GROUP, java.util.OptionalDouble.empty(), false).lossMean());
        assertEquals(false, new Grpo(2, dev.keel.loss.Grpo.LossType.DAPO, dev.keel.loss.Grpo.ScaleRewards.GROUP,
                java.util.OptionalDouble.empty(), true).dataParallel(), "dapo with truncated completions masked");
    }
}
