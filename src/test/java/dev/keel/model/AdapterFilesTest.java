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
        assertEquals(Path.of("some/base").toAbsolutePath().normalize().toString(), c.get("base_model_name_or_path").asText(),
                "absolute, so AutoPeftModel finds the base from anywhere");
        // off by default, so left out: an older PEFT fails on a field its LoraConfig does not have
        assertFalse(c.has("use_dora"), c.toString());
        assertFalse(c.has("use_rslora"), c.toString());
        assertEquals("[\"c_attn\",\"c_fc\",\"c_proj\"]", c.get("target_modules").toString(), "all-linear expanded, as PEFT saves it");
    }

    /** A reward model on {@code lm}: its weights and a seeded (1, 16) score head, with LoRA r 2 on q and v. */
    private static CausalLM rewardModel(CausalLM lm) {
        Map<String, Tensor> w = new LinkedHashMap<>(lm.weights());
        w.put(CausalLM.SCORE, rand(1, 16, 3));
        CausalLM rm = CausalLM.create(lm.config(), w);
        rm.addLora(LoraConfig.defaults(2, "llama"));
        return rm;
    }

    /** Every tensor of a safetensors file, by name. */
    private static Map<String, Tensor> readAll(Path file) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        Safetensors.Header h = Safetensors.readHeader(file);
        for (String n : h.entries().keySet()) {
            t.put(n, Safetensors.read(h, n));
        }
        return t;
    }

    @Test
    void aRewardModelsAdapterCarriesItsHeadAsPeftsModulesToSave() {
        CausalLM lm = LoraModelTest.llama();
        CausalLM rm = rewardModel(lm);
        Map<String, Tensor> w = rm.weights();
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
        Files.writeString(unknown.resolve("adapter_config.json"), peftConfig(2, 8, "[\"w_proj\"]", "CAUSAL_LM", false));
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
    /** {@link #goodAdapter} with PEFT's config of it, the fields of {@code extra} (JSON members) added or replaced. */
    private Path withFields(String name, String extra) throws IOException {
        Path a = goodAdapter(name);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
                json.readTree(peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false));
        cfg.setAll((com.fasterxml.jackson.databind.node.ObjectNode) json.readTree("{" + extra + "}"));
        Files.writeString(a.resolve("adapter_config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(cfg));
        return a;
    }

    @Test
    void peftSettingsThatChangeWhatAnAdapterComputesAreRefusedByName_neverIgnored() throws IOException {
        // PEFT 0.14-0.19 fields, each set as PEFT would write it, and a field no PEFT Keel knows has
        Map<String, String> refused = new LinkedHashMap<>();
        refused.put("\"alora_invocation_tokens\": [5, 9]", "Activated LoRA");
        refused.put("\"layer_replication\": [[1, 2], [0, 1]]", "replicated");
        refused.put("\"exclude_modules\": [\"k_proj\"]", "excluded");
        refused.put("\"lora_bias\": true", "bias on lora_B");
        refused.put("\"trainable_token_indices\": [3, 4]", "token embeddings");
        refused.put("\"target_parameters\": [\"mlp.experts.down_proj\"]", "target_parameters");
        refused.put("\"use_qalora\": true", "QA-LoRA");
        refused.put("\"arrow_config\": {\"top_k\": 2}", "Arrow");
        refused.put("\"some_future_setting\": 3", "does not know");
        int i = 0;
        for (Map.Entry<String, String> f : refused.entrySet()) {
            String e = loadError(withFields("set-" + i++, f.getKey()));
            String field = f.getKey().substring(1, f.getKey().indexOf('"', 1));
            assertTrue(e.contains("adapter_config.json") && e.contains("'" + field + "'") && e.contains(f.getValue()), e);
        }
        for (String init : List.of("pissa", "pissa_niter_16", "olora", "corda", "loftq")) {
            String cfg = peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                    .replace("\"init_lora_weights\": true", "\"init_lora_weights\": \"" + init + "\"");
            Path a = goodAdapter("init-" + init);
            Files.writeString(a.resolve("adapter_config.json"), cfg);
            String e = loadError(a);
            assertTrue(e.contains("'init_lora_weights'") && e.contains("path_initial_model_for_weight_conversion"), e);
        }
        String e = loadError(withFields("layers", "\"layers_to_transform\": 0"));
        assertTrue(e.contains("'layers_to_transform'"), "layer 0 is a subset, not a default: " + e);
    }

    @Test
    void peftFieldsAtTheirDefaults_orThatLeaveTheOutputsAlone_load() throws IOException {
        // what PEFT 0.19 writes besides the fields of peftConfig, all at their defaults, plus fields of no effect
        Path a = withFields("defaults", "\"alora_invocation_tokens\": null,\n\"arrow_config\": null,\n"
                + "\"corda_config\": null,\n\"ensure_weight_tying\": false,\n\"eva_config\": null,\n"
                + "\"exclude_modules\": null,\n\"lora_bias\": false,\n\"lora_ga_config\": null,\n"
                + "\"peft_version\": \"0.19.0\",\n\"qalora_group_size\": 16,\n\"target_parameters\": null,\n"
                + "\"trainable_token_indices\": null,\n\"use_bdlora\": null,\n\"use_qalora\": false,\n"
                + "\"some_future_setting\": null");
        Path base = base(LoraModelTest.llama(), "defaults-base");
        assertEquals(4, AdapterFiles.loadWithBase(base, a, null, Head.LM).adapters().pairs().size());
        // bias "all" on layers without biases saves no bias, so the adapter is one with "none"
        Path all = goodAdapter("bias-all");
        Files.writeString(all.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                .replace("\"bias\": \"none\"", "\"bias\": \"all\""));
        assertEquals(4, AdapterFiles.loadWithBase(base, all, null, Head.LM).adapters().pairs().size());
        // an init that leaves the base alone
        Path eva = goodAdapter("eva");
        Files.writeString(eva.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                .replace("\"init_lora_weights\": true", "\"init_lora_weights\": \"eva\""));
        assertEquals(4, AdapterFiles.loadWithBase(base, eva, null, Head.LM).adapters().pairs().size());
        // as PEFT, target names that match no layer are skipped when one matches (another architecture's name here)
        Path extra = goodAdapter("extra-target");
        Files.writeString(extra.resolve("adapter_config.json"),
                peftConfig(2, 8, "[\"q_proj\", \"v_proj\", \"query_key_value\"]", "CAUSAL_LM", false));
        assertEquals(4, AdapterFiles.loadWithBase(base, extra, null, Head.LM).adapters().pairs().size());
    }

    @Test
    void aTrainedBiasOrAWiderHeadIsRefusedWithTheReason() throws IOException {
        Path biased = goodAdapter("biased");
        Files.writeString(biased.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                .replace("\"bias\": \"none\"", "\"bias\": \"all\""));
        Path weights = biased.resolve("adapter_model.safetensors");
        Map<String, Tensor> t = readAll(weights);
        t.put("base_model.model.model.layers.0.self_attn.q_proj.bias", torch.zeros(16));
        Safetensors.write(weights, t, Map.of("format", "pt"));
        String e = loadError(biased);
        assertTrue(e.contains("q_proj.bias") && e.contains("trained bias") && e.contains("'bias'"), e);

        Path bad = goodAdapter("bias-bad");
        Files.writeString(bad.resolve("adapter_config.json"), peftConfig(2, 8, "[\"q_proj\", \"v_proj\"]", "CAUSAL_LM", false)
                .replace("\"bias\": \"none\"", "\"bias\": \"some\""));
        e = loadError(bad);
        assertTrue(e.contains("'bias'") && e.contains("lora_only"), e);

        // a PEFT SEQ_CLS adapter made with num_labels 2
        CausalLM lm = LoraModelTest.llama();
        Path out = tmp.resolve("two-labels");
        AdapterFiles.save(rewardModel(lm), out, null, null);
        Path file = out.resolve("adapter_model.safetensors");
        Map<String, Tensor> rt = readAll(file);
        rt.put("base_model.model.score.weight", rand(2, 16, 4));
        Safetensors.write(file, rt, Map.of("format", "pt"));
        Path base = base(lm, "two-labels-base");
        e = assertThrows(KeelException.class, () -> AdapterFiles.loadWithBase(base, out, null, Head.SCORE)).getMessage();
        assertTrue(e.contains("score.weight") && e.contains("[2, 16]") && e.contains("num_labels=1"), e);
    }

    @Test
    void aTargetThatIsAnEmbeddingOrAHeadIsNamedAsSuch() {
        LoraConfig c = new LoraConfig(2, 8, 0, List.of("lm_head"), false);
        KeelException e = assertThrows(KeelException.class,
                () -> c.select(List.of("model.layers.0.self_attn.q_proj"), "llama"));
        assertTrue(e.getMessage().contains("'lm_head'") && e.getMessage().contains("output head"), e.getMessage());
        // the names a user types must each match: a misspelt module is not silently left out
        LoraConfig typo = new LoraConfig(2, 8, 0, List.of("q_proj", "v_prj"), false);
        e = assertThrows(KeelException.class, () -> typo.select(List.of("model.layers.0.self_attn.q_proj",
                "model.layers.0.self_attn.v_proj"), "llama"));
        assertTrue(e.getMessage().contains("'v_prj'"), e.getMessage());
        assertEquals(List.of("model.layers.0.self_attn.q_proj"), typo.selectAny(List.of("model.layers.0.self_attn.q_proj",
                "model.layers.0.self_attn.v_proj"), "llama"));
    }
}
