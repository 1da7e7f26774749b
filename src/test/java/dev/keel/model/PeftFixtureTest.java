package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.keel.TestSupport;
import dev.keel.model.io.AdapterFiles;
import dev.keel.tensor.Tensors;

/**
 * Adapters written outside Keel in PEFT's checkpoint format (scripts/reference/make_lora_fixtures.py, plain PyTorch:
 * GPT-2 with fan_in_fan_out, a Llama 3 with rslora) load onto their parity base models and give the logits PyTorch
 * computes with each update merged as PEFT's get_delta_weight does.
 */
class PeftFixtureTest {
    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gpt2-c_attn-c_fc", "llama3-q-v-down-rslora"})
    void aPeftAdapterGivesTheLogitsOfPyTorchWithTheUpdateMerged(String name) {
        Path adapter = TestSupport.fixture("lora/" + name);
        JsonNode ref = TestSupport.readJson(adapter.resolve("reference.json"));
        String base = ref.get("base").asText();
        CausalLM m = AdapterFiles.loadWithBase(TestSupport.fixture("parity/" + base), adapter, null, Head.LM);
        JsonNode baseRef = TestSupport.readJson(TestSupport.fixture("parity/" + base + "/reference.json"));
        List<long[]> inputs = TestSupport.longRows(ref.get("input_ids"));
        double moved = 0;
        for (int s = 0; s < inputs.size(); s++) {
            Tensor ids = Tensors.longs(new long[][] {inputs.get(s)}, new Device("cpu"));
            float[] got;
            try (NoGradGuard ng = new NoGradGuard()) {
                got = Tensors.toFloats(m.forward(ids, torch.ones_like(ids)));
            }
            JsonNode rows = ref.get("logits").get(s);
            int v = rows.get(0).size();
            assertEquals(rows.size() * v, got.length);
            for (int t = 0; t < rows.size(); t++) {
                for (int j = 0; j < v; j++) {
                    double want = rows.get(t).get(j).asDouble();
                    assertEquals(want, got[t * v + j], 1e-4 * Math.max(1, Math.abs(want)), name + " seq " + s + " pos " + t);
                    moved = Math.max(moved, Math.abs(want - baseRef.get("logits").get(s).get(t).get(j).asDouble()));
                }
            }
        }
        assertTrue(moved > 1e-2, "the adapter changes the base's logits (max " + moved + ")");
    }
}
