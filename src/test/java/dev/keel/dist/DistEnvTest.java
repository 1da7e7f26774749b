package dev.keel.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.keel.KeelException;

/** torchrun's variables read into a {@link DistEnv}, and how a batch is shared out among ranks. */
class DistEnvTest {
    @Test
    void withoutWorldSizeOrWithOneTheRunIsOneProcess() {
        assertEquals(DistEnv.single(), DistEnv.from(Map.of()));
        assertEquals(DistEnv.single(), DistEnv.from(Map.of("WORLD_SIZE", "1", "RANK", "0")));
    }

    @Test
    void torchrunsVariablesAreRead() {
        DistEnv e = DistEnv.from(Map.of("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "2",
                "MASTER_ADDR", "node0", "MASTER_PORT", "29500"));
        assertEquals(new DistEnv(3, 4, 1, 2, "node0", 29500), e);
    }

    @Test
    void missingOrBadVariablesAreNamed() {
        KeelException noPort = assertThrows(KeelException.class, () -> DistEnv.from(Map.of("RANK", "1",
                "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1")));
        assertTrue(noPort.getMessage().contains("MASTER_PORT is not set"), noPort.getMessage());
        KeelException rank = assertThrows(KeelException.class, () -> DistEnv.from(Map.of("RANK", "2",
                "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29500")));
        assertTrue(rank.getMessage().contains("RANK must be within [0, WORLD_SIZE)"), rank.getMessage());
        KeelException word = assertThrows(KeelException.class, () -> DistEnv.from(Map.of("WORLD_SIZE", "two")));
        assertTrue(word.getMessage().contains("WORLD_SIZE must be a whole number, got 'two'"), word.getMessage());
    }

    @Test
    void aSingleProcessKeepsTheWholeBatch() {
        Distributed one = Distributed.single();
        assertEquals(List.of(1, 2, 3), one.shard(List.of(1, 2, 3)));
        assertEquals(0, one.shardStart(3));
        assertEquals(0.5, one.sum(new double[] {0.5})[0]);
    }
}
