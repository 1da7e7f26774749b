package dev.keel.train.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.OptionalDouble;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.keel.loss.KlEstimator;
import dev.keel.train.SettingsJson;

class RlConfigTest {
    @Test
    void defaultsAreTrlsAndWithersChangeOnlyTheirField() {
        RlConfig c = RlConfig.defaults(Ppo.defaults());
        assertEquals(0.05, c.kl().coef());
        assertEquals(KlEstimator.K1, c.kl().estimator());
        assertEquals(0.7, c.sampling().temperature());
        assertEquals(4, c.updates().epochs());
        RlConfig d = c.withKl(k -> k.withCoef(0.2)).withSampling(s -> s.withIterations(7));
        assertEquals(0.2, d.kl().coef());
        assertEquals(7, d.sampling().iterations());
        assertEquals(c.updates(), d.updates());
        assertEquals(0.05, c.kl().coef(), "the original is unchanged");
    }

    @Test
    void aRolloutIsPromptsTimesGenerationsAndTheMinibatchDefaultsToIt() {
        RlConfig c = RlConfig.defaults(Grpo.of(4)).withSampling(s -> s.withBatchPrompts(3));
        assertEquals(12, c.rolloutSize());
        assertEquals(12, c.miniBatchSize());
        assertEquals(5, c.withUpdates(u -> u.withMiniBatchSize(5)).miniBatchSize());
    }

    @Test
    void settingsSerialiseWithTheAlgorithmsNameAndOptionalsAsValueOrNull() {
        RlConfig c = RlConfig.defaults(Rloo.of(3))
                .withScores(s -> s.withMissingEosPenalty(OptionalDouble.of(1.0)))
                .withKl(k -> k.withAdaptive(Optional.of(new RlConfig.Adaptive(6, 10000))));
        JsonNode j = SettingsJson.of(c);
        assertEquals("rloo", j.path("algorithm").path("name").asText(), j.toString());
        assertEquals(3, j.path("algorithm").path("numGenerations").asInt(), j.toString());
        assertEquals(1.0, j.path("scores").path("missingEosPenalty").asDouble(), j.toString());
        assertTrue(j.path("scores").path("clip").isNull(), j.toString());
        assertEquals(6.0, j.path("kl").path("adaptive").path("target").asDouble(), j.toString());
        assertEquals("k1", j.path("kl").path("estimator").asText(), j.toString());
    }

    @Test
    void invalidSettingsNameTheOption() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Rloo.of(1)).getMessage()
                .contains("--num-generations"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RlConfig.Sampling.defaults().withTemperature(0))
                .getMessage().contains("--temperature"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RlConfig.KlPenalty.defaults().withRefEmaDecay(1))
                .getMessage().contains("--ref-ema-decay"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Ppo(0.1, 0.2, 1.5, 0.95, false, true))
                .getMessage().contains("--gamma"));
    }
}
