package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelConfig;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;

class ModelFilesTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    static java.util.List<String> models() {
        return TestSupport.PARITY_MODELS;
    }

    /** Every tensor of a checkpoint dir, by stored name, in its stored dtype. */
    private static Map<String, Tensor> rawTensors(Path dir) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (var files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".safetensors")).sorted()::iterator) {
                Safetensors.Header h = Safetensors.readHeader(f);
                for (String n : h.entries().keySet()) {
                    out.put(n, Safetensors.read(h, n));
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    private static String strip(String name) {
        return name.replaceFirst("^(transformer|model)\\.", "");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void saveThenLoadIsBitExactInTheStoredDtype(String name) {
        Path src = TestSupport.fixture("parity/" + name);
        ModelConfig cfg = ModelFiles.readConfig(src);
        DType stored = cfg.torchDtype();
        CausalLM model = ModelFiles.load(src, stored, null);
        Path out = tmp.resolve(name);
        ModelFiles.save(model, out);
        Map<String, Tensor> before = rawTensors(src);
        Map<String, Tensor> after = rawTensors(out);
        int compared = 0;
        for (Map.Entry<String, Tensor> e : after.entrySet()) {
            Tensor orig = before.containsKey(e.getKey()) ? before.get(e.getKey()) : before.get(strip(e.getKey()));
            assertTrue(orig != null, "saved tensor " + e.getKey() + " not in the original");
            assertEquals(orig.scalar_type().intern(), e.getValue().scalar_type().intern(), e.getKey());
            assertTrue(torch.equal(orig, e.getValue()), e.getKey() + " changed in the round trip");
            compared++;
        }
        assertEquals(model.weights().size(), compared);
        CausalLM again = ModelFiles.load(out, stored, null);
        for (Map.Entry<String, Tensor> e : model.weights().entrySet()) {
            assertTrue(torch.equal(e.getValue(), again.weights().get(e.getKey())), e.getKey());
        }
        assertEquals(stored.torchName(), TestSupport.readJson(out.resolve("config.json")).get("torch_dtype").asText());
    }

    @Test
    void aSmallShardLimitWritesShardsAndAnIndexThatLoadBack() {
        CausalLM model = ModelFiles.load(TestSupport.fixture("parity/gpt2-tiny"), null, null);
        Path out = tmp.resolve("sharded");
        ModelFiles.save(model, out, DType.F32, 60_000);
        assertTrue(Files.exists(out.resolve(ModelFiles.INDEX)));
        assertFalse(Files.exists(out.resolve(ModelFiles.WEIGHTS)));
        long shards = out.toFile().list((d, n) -> n.matches("model-\\d{5}-of-\\d{5}\\.safetensors")).length;
        assertTrue(shards > 2, "expected several shards, got " + shards);
        CausalLM back = ModelFiles.load(out, null, null);
        for (Map.Entry<String, Tensor> e : model.weights().entrySet()) {
            assertTrue(torch.equal(e.getValue(), back.weights().get(e.getKey())), e.getKey());
        }
        // saving again as one file removes the shards, so the folder holds one layout only
        ModelFiles.save(model, out);
        assertFalse(Files.exists(out.resolve(ModelFiles.INDEX)));
        assertEquals(1, out.toFile().list((d, n) -> n.endsWith(".safetensors")).length);
    }

    private Path copyOfFixture(String name) throws IOException {
        Path src = TestSupport.fixture("parity/" + name);
        Path dst = tmp.resolve("copy-" + name);
        Files.createDirectories(dst);
        try (var files = Files.list(src)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.copy(p, dst.resolve(p.getFileName()));
            }
        }
        return dst;
    }

    @Test
    void aMissingTensorIsNamedWithTheFolder() throws IOException {
        Path dir = copyOfFixture("gpt2-tiny");
        Map<String, Tensor> t = rawTensors(dir);
        t.remove("h.1.mlp.c_fc.bias");
        Safetensors.write(dir.resolve("model.safetensors"), t, null);
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        assertTrue(e.getMessage().contains("transformer.h.1.mlp.c_fc.bias"), e.getMessage());
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }

    @Test
    void aWrongShapeNamesTheFileTheTensorAndBothShapes() throws IOException {
        Path dir = copyOfFixture("qwen2-tiny-bf16");
        Map<String, Tensor> t = rawTensors(dir);
        t.put("model.layers.0.self_attn.k_proj.weight", torch.zeros(8, 64));
        Safetensors.write(dir.resolve("model.safetensors"), t, null);
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        String m = e.getMessage();
        assertTrue(m.contains("model.safetensors") && m.contains("model.layers.0.self_attn.k_proj.weight")
                && m.contains("[8, 64]") && m.contains("[32, 64]"), m);
    }

    @Test
    void aTruncatedWeightFileNamesFileAndTensor() throws IOException {
        Path dir = copyOfFixture("mistral-tiny-headdim");
        Path f = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("tensor '"), e.getMessage());
    }

    @Test
    void anUnknownModelTypeListsTheSupportedOnes() throws IOException {
        Path dir = copyOfFixture("gpt2-tiny");
        ObjectNode cfg = (ObjectNode) TestSupport.readJson(dir.resolve("config.json"));
        cfg.put("model_type", "mamba");
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("'mamba'")
                && e.getMessage().contains("gpt2, llama, qwen2, mistral"), e.getMessage());
    }

    @Test
    void pickleWeightsAreRefusedNotLoaded() throws IOException {
        Path dir = copyOfFixture("gpt2-tiny");
        Files.delete(dir.resolve("model.safetensors"));
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        assertTrue(e.getMessage().contains("pytorch_model.bin") && e.getMessage().contains("safetensors"), e.getMessage());
    }

    @Test
    void anIndexNamingAMissingShardIsAnError() throws IOException {
        Path dir = copyOfFixture("llama3-rope-sharded");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        KeelException e = assertThrows(KeelException.class, () -> ModelFiles.load(dir, null, null));
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
    }

    @Test
    void bf16WeightsComputeInFloat32ByDefaultAndInBf16OnRequest() {
        Path dir = TestSupport.fixture("parity/qwen2-tiny-bf16");
        assertEquals(DType.F32, ModelFiles.load(dir, null, null).dtype());
        assertEquals(DType.BF16, ModelFiles.load(dir, DType.BF16, null).dtype());
    }
}
