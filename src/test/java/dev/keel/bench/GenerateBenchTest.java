package dev.keel.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.model.CausalLM;

class GenerateBenchTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theFastestRunCarriesItsTimeToTheFirstToken(@TempDir Path dir) throws Exception {
        CausalLM model = GenerateBench.writeModel(dir);
        GenerateBench.Result r = GenerateBench.run(model, 2, 24, 2, 1);
        assertEquals(2 * 24 / r.seconds(), r.tokensPerSecond(), 1e-9);
        assertTrue(r.firstTokenSeconds() > 0 && r.firstTokenSeconds() < r.seconds(),
                "first token at " + r.firstTokenSeconds() + " s of a " + r.seconds() + " s run");
    }
}
