package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

/**
 * Adapter folders in PEFT's layout: one written by hand from PEFT's documented names and config fields loads and gives
 * the logits of W + (alpha / r) B A computed here; Keel's own writes PEFT's names; bad folders fail in one line naming
 * the file and the field or tensor.
 */
class AdapterFilesTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    /** adapter_config.json as PEFT's LoraConfig.save_pretrained writes it (fields sorted), with the given parts. */
    static String peftConfig(int r, double alpha, String targets, String task, boolean fanInFanOut) {
        return "{\n  \"alpha_pattern\": {},\n  \"auto_mapping\": null,\n  \"base_model_name_or_path\": \"base\",\n"
                + "  \"bias\": \"none\",\n  \"fan_in_fan_out\": " + fanInFanOut + ",\n  \"inference_mode\": true,\n"
                + "  \"init_lora_weights\": true,\n  \"layer_replication\": null,\n  \"layers_pattern\": null,\n"
                + "  \"layers_to_transform\": null,\n  \"loftq_config\": {},\n  \"lora_alpha\": " + alpha + ",\n"
                + "  \"lora_dropout\": 0.05,\n  \"megatron_config\": null,\n  \"megatron_core\": \"megatron.core\",\n"
                + "  \"modules_to_save\": null,\n  \"peft_type\": \"LORA\",\n  \"r\": " + r + ",\n  \"rank_pattern\": {},\n"
                + "  \"revision\": null,\n  \"target_modules\": " + targets + ",\n  \"task_type\": \"" + task + "\",\n"
                + "  \"use_dora\": false,\n  \"use_rslora\": false\n}\n";
    }

    /** Random (rows, cols) values, seeded. */
    static Tensor rand(long rows, long cols, long seed) {
        torch.manual_seed(seed);
        return torch.randn(rows, cols).mul(Tensors.s(0.3));
    }

    private Path base(CausalLM m, String name) {
        Path d = tmp.resolve(name);
        ModelFiles.save(m, d);
        return d;
    }

    @Test
    void aLlamaAdapterWithPeftsNamesGivesTheLogitsOfTheWeightsMergedByHand() throws IOException {
        CausalLM m = LoraModelTest.llama();
        Path base = base(m, "llama");
        Path ad = Files.createDirectories(tmp.resolve("peft-llama"));
        Files.writeString(ad.resolve("adapter_config.json"), peftConfig(2, 6, "[\"v_proj\", \"q_proj\"]", "CAUSAL_LM", false));
        Map<String, Tensor> t = new LinkedHashMap<>();
        Map<String, Tensor> merged = new LinkedHashMap<>(m.weights());
        long seed = 1;
        for (int layer = 0; layer < 2; layer++) {
            for (String proj : List.of("q_proj", "v_proj")) {
                String module = "model.layers." + layer + ".self_attn." + proj;
                long out = proj.equals("q_proj") ? 16 : 8;
                Tensor a = rand(2, 16, seed++);
                Tensor b = rand(out, 2, seed++);
                t.put("base_model.model." + module + ".lora_A.weight", a);
                t.put("base_model.model." + module + ".lora_B.weight", b);
                // W + (alpha / r) B A, alpha 6 and r 2
                merged.put(module + ".weight", merged.get(module + ".weight").add(torch.matmul(b, a).mul(Tensors.s(3.0))));
            }
        }
        Safetensors.write(ad.resolve("adapter_model.safetensors"), t, Map.of("format", "pt"));
        CausalLM loaded = AdapterFiles.loadWithBase(base, ad, null, Head.LM);
        assertEquals(4, loaded.adapters().pairs().size());
        assertEquals(0.05, loaded.adapters().config().dropout(), 0);
        assertClose(LoraModelTest.logits(CausalLM.create(m.config(), merged), LoraModelTest.ids()),
                LoraModelTest.logits(loaded, LoraModelTest.ids()));
    }

    @Test
    void aGpt2AdapterIsFanInFanOut_theUpdateTransposedOntoTheConv1DWeight() throws IOException {
        CausalLM m = LoraModelTest.gpt2();
        Path base = base(m, "gpt2");
        Path ad = Files.createDirectories(tmp.resolve("peft-gpt2"));
        Files.writeString(ad.resolve("adapter_config.json"), peftConfig(2, 4, "[\"c_attn\"]", "CAUSAL_LM", true));
        Map<String, Tensor> t = new LinkedHashMap<>();
        Map<String, Tensor> merged = new LinkedHashMap<>(m.weights());
        for (int layer = 0; layer < 2; layer++) {
            String module = "transformer.h." + layer + ".attn.c_attn";
            Tensor a = rand(2, 16, 10 + layer);        // (r, in)
            Tensor b = rand(48, 2, 20 + layer);        // (out, r)
            t.put("base_model.model." + module + ".lora_A.weight", a);
            t.put("base_model.model." + module + ".lora_B.weight", b);
            // Conv1D stores (in, out): W + (alpha / r) (B A)^T, alpha 4 and r 2
            merged.put(module + ".weight", merged.get(module + ".weight").add(torch.matmul(b, a).t().mul(Tensors.s(2.0))));
        }
        Safetensors.write(ad.resolve("adapter_model.safetensors"), t, Map.of("format", "pt"));
        CausalLM loaded = AdapterFiles.loadWithBase(base, ad, null, Head.LM);
        assertClose(LoraModelTest.logits(CausalLM.create(m.config(), merged), LoraModelTest.ids()),
                LoraModelTest.logits(loaded, LoraModelTest.ids()));
    }

    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5, "logit " + i);
        }
    }

    @Test
    void keelWritesPeftsTensorNamesAndConfigFields() throws IOException {
        CausalLM m = LoraModelTest.gpt2();
        m.addLora(new LoraConfig(4, 16, 0.1, List.of(LoraConfig.ALL_LINEAR), false));
        Path out = tmp.resolve("keel-gpt2");
        AdapterFiles.save(m, out, Path.of("some/base"), null);
        Safetensors.Header h = Safetensors.readHeader(out.resolve("adapter_model.safetensors"));
        assertArrayEquals(new long[] {4, 16}, h.entries().get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").shape());
        assertArrayEquals(new long[] {48, 4}, h.entries().get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").shape());
        assertArrayEquals(new long[] {16, 4}, h.entries().get("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight").shape());
        assertEquals(2 * 4 * 2, h.entries().size());
        JsonNode c = TestSupport.readJson(out.resolve("adapter_config.json"));
        assertEquals("LORA", c.get("peft_type").asText());
        assertEquals(4, c.get("r").asInt());
        assertEquals(16.0, c.get("lora_alpha").asDouble(), 0);
        assertEquals(0.1, c.get("lora_dropout").asDouble(), 0);
        assertTrue(c.get("fan_in_fan_out").asBoolean());
        assertEquals("none", c.get("bias").asText());
        assertEquals("CAUSAL_LM", c.get("task_type").asText());
        assertEquals("some/base", c.get("base_model_name_or_path").asText());
        assertEquals("[\"c_attn\",\"c_fc\",\"c_proj\"]", c.get("target_modules").toString(), "all-linear expanded, as PEFT saves it");
    }

    @Test
    void aRewardModelsAdapterCarriesItsHeadAsPeftsModulesToSave() {
        CausalLM lm = LoraModelTest.llama();
        Map<String, Tensor> w = new LinkedHashMap<>(lm.weights());
        w.put(CausalLM.SCORE, rand(1, 16, 3));
        CausalLM rm = CausalLM.create(lm.config(), w);
        rm.addLora(LoraConfig.defaults(2, "llama"));
        Path out = tmp.resolve("keel-rm");
        AdapterFiles.save(rm, out, null, null);
        Safetensors.Header h = Safetensors.readHeader(out.resolve("adapter_model.safetensors"));
        assertTrue(h.entries().containsKey("base_model.model.score.weight"), h.entries().keySet().toString());
        JsonNode c = TestSupport.readJson(out.resolve("adapter_config.json"));
        assertEquals("SEQ_CLS", c.get("task_type").asText());
        assertEquals("[\"classifier\",\"score\"]", c.get("modules_to_save").toString());
        Path base = base(lm, "rm-base");
        CausalLM back = AdapterFiles.loadWithBase(base, out, null, Head.SCORE);
        assertArrayEquals(Tensors.toFloats(w.get(CausalLM.SCORE)), Tensors.toFloats(back.weights().get(CausalLM.SCORE)), 0f);
        KeelException e = assertThrows(KeelException.class, () -> AdapterFiles.loadWithBase(base, out, null, Head.LM));
        assertTrue(e.getMessage().contains("task_type") && e.getMessage().contains("SEQ_CLS"), e.getMessage());
    }

    /** A good Llama adapter folder (r 2 on q_proj and v_proj) to break one piece of. */
    private Path goodAdapter(String name) {
        CausalLM m = LoraModelTest.llama();
        m.addLora(LoraConfig.defaults(2, "llama"));
        Path out = tmp.resolve(name);
        AdapterFiles.save(m, out, null, null);
        return out;
    }

    private String loadError(Path adapter) {
        Path base = tmp.resolve("bad-base");
        if (!Files.exists(base)) {
            ModelFiles.save(LoraModelTest.llama(), base);
        }
        return assertThrows(KeelException.class, () -> AdapterFiles.loadWithBase(base, adapter, null, Head.LM)).getMessage();
    }

    @Test
    void badAdapterFoldersFailInOneLineNamingTheFileAndTheFieldOrTensor() throws IOException {
        Path missing = goodAdapter("no-config");
        Files.delete(missing.resolve("adapter_config.json"));
        String e = loadError(missing);
        assertTrue(e.contains("no-config") && e.contains("adapter_config.json"), e);

        Path rank = goodAdapter("rank");
        Files.writeString(rank.resolve("adapter_config.json"), peftConfig(4, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false));
        e = loadError(rank);
        assertTrue(e.contains("adapter_model.safetensors") && e.contains("lora_A.weight") && e.contains("[2, 16]")
                && e.contains("[4, 16]"), e);

        Path unknown = goodAdapter("unknown");
        Files.writeString(unknown.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"w_proj\"]", "CAUSAL_LM", false));
        e = loadError(unknown);
        assertTrue(e.contains("adapter_config.json") && e.contains("target_modules") && e.contains("'w_proj'"), e);

        Path fewer = goodAdapter("fewer");
        Files.writeString(fewer.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\"]", "CAUSAL_LM", false));
        e = loadError(fewer);
        assertTrue(e.contains("v_proj.lora_A.weight") && e.contains("not an adapter of a module"), e);

        Path noR = goodAdapter("no-r");
        Files.writeString(noR.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"]}");
        e = loadError(noR);
        assertTrue(e.contains("adapter_config.json") && e.contains("'r'"), e);

        Path dora = goodAdapter("dora");
        Files.writeString(dora.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                .replace("\"use_dora\": false", "\"use_dora\": true"));
        e = loadError(dora);
        assertTrue(e.contains("'use_dora'"), e);

        Path noWeights = goodAdapter("no-weights");
        Files.delete(noWeights.resolve("adapter_model.safetensors"));
        e = loadError(noWeights);
        assertTrue(e.contains("no-weights") && e.contains("adapter_model.safetensors"), e);

        for (String msg : List.of(e)) {
            assertFalse(msg.contains("\n"), "one line: " + msg);
        }
    }
}
