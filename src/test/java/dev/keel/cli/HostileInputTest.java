package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;

/**
 * Inputs a hostile or careless user gives Keel, each with the error it must give: a non-zero exit, a message that
 * names the file, line, field, option or tensor at fault, no Java stack trace, nothing on standard output, every
 * file that existed before byte-identical afterwards, and no --out folder made for a run that was refused.
 */
class HostileInputTest {
    @TempDir
    static Path shared;
    private static Path base;
    private static Path otherTokenizer;

    @TempDir
    Path tmp;

    @BeforeAll
    static void models() {
        TestSupport.init();
        base = TinyModels.llama(shared.resolve("base"), 1);
        // a tokenizer with more tokens than the base model's vocabulary
        Path big = shared.resolve("big-vocab");
        try {
            Files.createDirectories(big);
            var bpe = dev.keel.tokenizer.BpeTrainer.train(bigCorpus(), 700, List.of(TinyModels.EOS));
            ModelFiles.writeJson(big.resolve("tokenizer.json"),
                    dev.keel.tokenizer.BpeTokenizerJson.build(bpe.vocab(), bpe.merges(), List.of(TinyModels.EOS), TinyModels.EOS));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        otherTokenizer = big.resolve("tokenizer.json");
    }

    private static List<String> bigCorpus() {
        List<String> s = new ArrayList<>(TinyModels.sentences());
        for (int i = 0; i < 400; i++) {
            s.add("word" + i + " token" + (i * 7) + " zq" + Integer.toString(i, 36) + " xy" + (i * 13));
        }
        return s;
    }

    /** Builds a case's files in {@code dir} and returns the command line. */
    @FunctionalInterface
    interface Setup {
        String[] args(Path dir) throws Exception;
    }

    record Case(String name, Setup setup, List<String> expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static final List<Case> CASES = new ArrayList<>();

    private static void add(String name, Setup setup, String... expected) {
        CASES.add(new Case(name, setup, List.of(expected)));
    }

    static Stream<Arguments> cases() {
        return CASES.stream().map(c -> Arguments.of(c.name(), c));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void isRefusedWithAMessageNamingTheCauseAndChangesNothing(String name, Case c) throws Exception {
        String[] args = c.setup().args(tmp);
        Path out = outOf(args);
        boolean outExisted = out != null && Files.exists(out, LinkOption.NOFOLLOW_LINKS);
        Map<Path, byte[]> before = snapshot(tmp);
        TestSupport.Run r = TestSupport.keel(args);
        String all = r.out() + r.err();
        assertNotEquals(0, r.code(), name + ": exit code; " + all);
        for (String e : c.expected()) {
            String want = e.replace("$DIR", tmp.toString());
            assertTrue(r.err().contains(want), name + ": expected '" + want + "' in: " + r.err());
        }
        assertFalse(all.contains("\tat ") || all.contains("Exception in thread") || all.contains("Caused by:"),
                name + ": a stack trace: " + all);
        assertFalse(all.contains("SECRET"), name + ": a file's contents leaked into the message: " + all);
        assertEquals("", r.out(), name + ": standard output");
        Map<Path, byte[]> after = snapshot(tmp);
        for (Map.Entry<Path, byte[]> e : before.entrySet()) {
            assertTrue(after.containsKey(e.getKey()), name + ": " + e.getKey() + " was deleted");
            assertArrayEquals(e.getValue(), after.get(e.getKey()), name + ": " + e.getKey() + " was changed");
        }
        if (out != null && !outExisted) {
            assertFalse(Files.exists(out, LinkOption.NOFOLLOW_LINKS), name + ": --out was created for a refused run");
        }
    }

    private static Path outOf(String[] args) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--out") && !args[i + 1].isBlank()) {
                return Path.of(args[i + 1]);
            }
        }
        return null;
    }

    /** Every regular file under {@code dir} (links not followed) with its bytes. */
    private static Map<Path, byte[]> snapshot(Path dir) throws IOException {
        Map<Path, byte[]> m = new TreeMap<>();
        try (var s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    m.put(p, Files.readAllBytes(p));
                }
            }
        }
        return m;
    }

    // ---- helpers that build the inputs ----

    /** A copy of the base model in {@code dir/model}. */
    static Path model(Path dir) throws IOException {
        Path m = dir.resolve("model");
        if (Files.exists(m)) {
            return m; // made earlier by the same case
        }
        Files.createDirectories(m);
        try (var s = Files.list(base)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    Files.copy(p, m.resolve(p.getFileName()));
                }
            }
        }
        return m;
    }

    static Path text(Path dir, String name, String content) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, content);
        return f;
    }

    static Path sftData(Path dir) throws IOException {
        return text(dir, "sft.jsonl", "{\"text\": \"The movie was great.\"}\n{\"text\": \"The food was bad.\"}\n");
    }

    static Path prefData(Path dir) throws IOException {
        return text(dir, "prefs.jsonl", "{\"prompt\": \"The movie\", \"chosen\": \" was great.\", \"rejected\": \" was bad.\"}\n"
                + "{\"prompt\": \"The food\", \"chosen\": \" was fine.\", \"rejected\": \" was awful.\"}\n");
    }

    static Path prompts(Path dir) throws IOException {
        return text(dir, "prompts.jsonl", "{\"prompt\": \"The movie\"}\n{\"prompt\": \"The food\"}\n");
    }

    /** sft on the base model with {@code extra} options. */
    static String[] sft(Path dir, String... extra) throws IOException {
        List<String> defaults = new ArrayList<>(List.of("--epochs", "1", "--batch-size", "2"));
        if (!List.of(extra).contains("--config")) {
            defaults.addAll(List.of("--out", dir.resolve("out").toString()));
        }
        return command(List.of("sft", "--model", model(dir).toString(), "--data", sftData(dir).toString()), defaults, extra);
    }

    static String[] generate(Path dir, String... extra) throws IOException {
        return command(List.of("generate", "--model", model(dir).toString(), "--prompts", prompts(dir).toString()),
                List.of("--max-new-tokens", "4"), extra);
    }

    /** {@code head}, then the option pairs of {@code defaults} that {@code extra} does not give, then {@code extra}. */
    static String[] command(List<String> head, List<String> defaults, String... extra) {
        List<String> a = new ArrayList<>(head);
        List<String> more = List.of(extra);
        for (int i = 0; i + 1 < defaults.size(); i += 2) {
            if (!more.contains(defaults.get(i))) {
                a.addAll(defaults.subList(i, i + 2));
            }
        }
        a.addAll(more);
        return a.toArray(String[]::new);
    }

    /** config.json of a copy of the base model, changed by {@code edit}; the command is logprobs. */
    static String[] withConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        Path m = model(dir);
        ObjectNode c = (ObjectNode) TestSupport.readJson(m.resolve("config.json"));
        edit.accept(c);
        Files.writeString(m.resolve("config.json"), c.toString());
        return logprobs(dir, m);
    }

    static String[] logprobs(Path dir, Path model) throws IOException {
        Path data = text(dir, "records.jsonl", "{\"prompt_ids\": [1, 2], \"completion_ids\": [3]}\n");
        return new String[] {"logprobs", "--model", model.toString(), "--data", data.toString()};
    }

    /** A safetensors file with {@code header} (JSON) and {@code dataBytes} zero bytes of data. */
    static void rawSafetensors(Path f, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(f, b.array());
    }

    /** A model whose model.safetensors is replaced by {@code header} + data. */
    static String[] withWeights(Path dir, String header, int dataBytes) throws IOException {
        Path m = model(dir);
        rawSafetensors(m.resolve("model.safetensors"), header, dataBytes);
        return logprobs(dir, m);
    }

    /** A model stored as shards whose index names {@code shard} for one tensor. */
    static String[] withIndex(Path dir, String shardJson) throws IOException {
        Path m = model(dir);
        Files.delete(m.resolve("model.safetensors"));
        Files.writeString(m.resolve("model.safetensors.index.json"),
                "{\"metadata\": {}, \"weight_map\": {\"model.embed_tokens.weight\": " + shardJson + "}}");
        return logprobs(dir, m);
    }

    static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": [" + begin + ", " + end + "]}";
    }

    static {
        // ---- data loss: the output folder ----
        add("--out empty", d -> sft(d, "--out", ""), "--out must not be empty");
        add("yaml out: a number", d -> {
            text(d, "run.yaml", "out: 5\n");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "run.yaml: key 'out' must be a string");
        add("yaml out: a list", d -> {
            text(d, "run.yaml", "out: [a, b]\n");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "key 'out' must be a string");
        add("yaml out: no value", d -> {
            text(d, "run.yaml", "out:\n");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "key 'out' has no value");
        add("yaml out: a map", d -> {
            text(d, "run.yaml", "out: {a: 1}\n");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "key 'out' must be a string");
        add("yaml lr: a map", d -> {
            text(d, "run.yaml", "lr: {a: 1}\n");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "key 'lr' must be a value");
        add("--out is a file", d -> {
            String[] a = sft(d);
            Files.writeString(d.resolve("out"), "a user's file\n");
            return a;
        }, "$DIR/out: is a file; --out must be a folder");
        add("--out holds Keel checkpoints, no --resume", d -> {
            String[] a = sft(d);
            Path c = Files.createDirectories(d.resolve("out/checkpoint-3"));
            Files.writeString(c.resolve("trainer_state.json"), "{\"written_by\": \"keel\", \"global_step\": 3}");
            Files.writeString(d.resolve("out/notes.txt"), "mine\n");
            return a;
        }, "holds checkpoints of an earlier run; pass --resume");

        // ---- security: files named by the model folder ----
        add("index names ../", d -> {
            Files.writeString(d.resolve("outside.safetensors"), "SECRET SECRET SECRET");
            return withIndex(d, "\"../outside.safetensors\"");
        }, "'../outside.safetensors' (shard named in model.safetensors.index.json) points outside the model folder");
        add("index names an absolute path", d -> {
            Path secret = text(d, "secret.txt", "SECRET contents");
            return withIndex(d, "\"" + secret + "\"");
        }, "points outside the model folder");
        add("index names a link to outside", d -> {
            Path secret = text(d, "secret.safetensors", "SECRET contents");
            String[] a = withIndex(d, "\"shard.safetensors\"");
            Files.createSymbolicLink(d.resolve("model/shard.safetensors"), secret);
            return a;
        }, "'shard.safetensors'", "symbolic link to a file outside the model folder");
        add("index names a directory", d -> {
            String[] a = withIndex(d, "\"sub\"");
            Files.createDirectories(d.resolve("model/sub"));
            return a;
        }, "model.safetensors.index.json: names shard 'sub', which is a directory");
        add("index names a missing shard", d -> withIndex(d, "\"gone.safetensors\""),
                "names shard 'gone.safetensors', which does not exist");
        add("index weight_map value is a number", d -> withIndex(d, "7"),
                "field 'weight_map': tensor 'model.embed_tokens.weight' must name a shard file");
        add("index is not JSON", d -> {
            String[] a = withIndex(d, "\"x\"");
            Files.writeString(d.resolve("model/model.safetensors.index.json"), "{\"weight_map\": SECRET}");
            return a;
        }, "model.safetensors.index.json: not valid JSON (line 1");
        add("tokenizer.json links outside", d -> {
            Path secret = text(d, "secret.json", "{\"SECRET\": 1}");
            Path m = model(d);
            Files.delete(m.resolve("tokenizer.json"));
            Files.createSymbolicLink(m.resolve("tokenizer.json"), secret);
            return new String[] {"tokenize", "--model", m.toString()};
        }, "'tokenizer.json' (the tokenizer) is a symbolic link to a file outside the model folder");
        add("config.json links outside", d -> {
            Path m = model(d);
            Path outside = d.resolve("config-outside.json");
            Files.move(m.resolve("config.json"), outside);
            Files.createSymbolicLink(m.resolve("config.json"), outside);
            return logprobs(d, m);
        }, "'config.json' (the model's configuration) is a symbolic link to a file outside");
        add("chat_template.jinja links outside", d -> {
            Path secret = text(d, "secret.jinja", "SECRET {{ messages }}");
            Path m = model(d);
            Files.createSymbolicLink(m.resolve("chat_template.jinja"), secret);
            return new String[] {"generate", "--model", m.toString(), "--chat", "--prompt", "Hi"};
        }, "'chat_template.jinja' (the chat template) is a symbolic link");
        add("config.json is not JSON", d -> {
            Path m = model(d);
            Files.writeString(m.resolve("config.json"), "{\"model_type\": SECRET_TOKEN}");
            return logprobs(d, m);
        }, "config.json: not valid JSON (line 1, column");
        add("tokenizer_config.json is not JSON", d -> {
            Path m = model(d);
            Files.writeString(m.resolve("tokenizer_config.json"), "SECRET");
            return new String[] {"tokenize", "--model", m.toString()};
        }, "tokenizer_config.json: not valid JSON");
        add("config.json is not UTF-8", d -> {
            Path m = model(d);
            Files.write(m.resolve("config.json"), new byte[] {'{', '\n', '"', (byte) 0xC3, '"', '}'});
            return logprobs(d, m);
        }, "config.json:2: invalid UTF-8");

        // ---- safetensors layout, as Hugging Face's reader checks it ----
        add("safetensors: overlapping tensors", d -> withWeights(d,
                "{" + entry("a", "F32", "[4]", 0, 16) + ", " + entry("b", "F32", "[4]", 8, 24) + "}", 24),
                "tensor 'b' has data_offsets [8, 24]", "overlapping");
        add("safetensors: a gap", d -> withWeights(d,
                "{" + entry("a", "F32", "[4]", 0, 16) + ", " + entry("b", "F32", "[4]", 20, 36) + "}", 36),
                "tensor 'b'", "a gap between");
        add("safetensors: begin after end", d -> withWeights(d, "{" + entry("a", "F32", "[0]", 16, 0) + "}", 16),
                "tensor 'a': data_offsets [16, 0] are not an ordered pair");
        add("safetensors: trailing bytes", d -> withWeights(d, "{" + entry("a", "F32", "[4]", 0, 16) + "}", 40),
                "model.safetensors: the tensors cover 16 data bytes but the file holds 40");
        add("safetensors: truncated", d -> withWeights(d, "{" + entry("a", "F32", "[4]", 0, 16) + "}", 8),
                "tensor 'a' ends at byte 16", "truncated");
        add("safetensors: size does not fit shape", d -> withWeights(d, "{" + entry("a", "F32", "[4]", 0, 12) + "}", 12),
                "tensor 'a': data_offsets [0, 12] do not fit shape [4]");
        add("safetensors: shape overflows", d -> withWeights(d,
                "{" + entry("a", "F32", "[4294967296, 4294967296]", 0, 16) + "}", 16), "tensor 'a': shape", "overflows");
        add("safetensors: negative dimension", d -> withWeights(d, "{" + entry("a", "F32", "[-4]", 0, 16) + "}", 16),
                "tensor 'a': shape must be whole numbers >= 0");
        add("safetensors: unknown dtype", d -> withWeights(d, "{" + entry("a", "Q4", "[4]", 0, 16) + "}", 16),
                "tensor 'a': unsupported dtype Q4");
        add("safetensors: header length past the end", d -> {
            Path m = model(d);
            Files.write(m.resolve("model.safetensors"), "SECRETSECRETSECRET".getBytes(StandardCharsets.US_ASCII));
            return logprobs(d, m);
        }, "model.safetensors: not a safetensors file, or a truncated one");
        add("safetensors: header not an object", d -> withWeights(d, "[1, 2]", 0), "the header does not start with '{'");
        add("safetensors: header not JSON", d -> withWeights(d, "{SECRET}", 0), "the safetensors header is not valid JSON");
        add("safetensors: 3 bytes", d -> {
            Path m = model(d);
            Files.write(m.resolve("model.safetensors"), new byte[3]);
            return logprobs(d, m);
        }, "shorter than the 8-byte header length");
        add("model.safetensors is a directory", d -> {
            Path m = model(d);
            Files.delete(m.resolve("model.safetensors"));
            Files.createDirectories(m.resolve("model.safetensors"));
            return logprobs(d, m);
        }, "model.safetensors is a directory");
        add("NaN weights", d -> {
            Path m = model(d);
            Safetensors.Header h = Safetensors.readHeader(m.resolve("model.safetensors"));
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (String n : h.entries().keySet()) {
                w.put(n, Safetensors.read(h, n));
            }
            w.get("model.layers.1.mlp.up_proj.weight").fill_(new org.bytedeco.pytorch.Scalar(Double.NaN));
            Safetensors.write(m.resolve("model.safetensors"), w, Map.of("format", "pt"));
            return generate(d);
        }, "tensor 'model.layers.1.mlp.up_proj.weight' holds NaN or infinite values");

        // ---- config.json numbers ----
        add("hidden_size 0", d -> withConfig(d, c -> c.put("hidden_size", 0)), "invalid hidden_size: 0");
        add("num_attention_heads 0", d -> withConfig(d, c -> c.put("num_attention_heads", 0)),
                "invalid num_attention_heads: 0");
        add("num_hidden_layers -1", d -> withConfig(d, c -> c.put("num_hidden_layers", -1)), "invalid num_hidden_layers: -1");
        add("num_hidden_layers 10^8", d -> withConfig(d, c -> c.put("num_hidden_layers", 100_000_000)),
                "100000000 layers", "more than this machine's");
        add("vocab_size beyond int", d -> withConfig(d, c -> c.put("vocab_size", 3_000_000_000L)),
                "invalid vocab_size: 3000000000");
        add("intermediate_size 10^9 x hidden 10^6", d -> withConfig(d, c -> {
            c.put("intermediate_size", 1_000_000_000);
            c.put("hidden_size", 1_000_000);
            c.put("head_dim", 8);
        }), "invalid sizes", "GB even in 16 bits");
        add("rms_norm_eps negative", d -> withConfig(d, c -> c.put("rms_norm_eps", -1e-5)), "invalid rms_norm_eps");
        add("rope_theta negative", d -> withConfig(d, c -> c.put("rope_theta", -10000)), "invalid rope_theta");
        add("rope_scaling factor 0", d -> withConfig(d, c -> c.putObject("rope_scaling").put("rope_type", "linear")
                .put("factor", 0)), "invalid rope_scaling factor: 0.0");
        add("rope_scaling llama3 factor -2", d -> withConfig(d, c -> c.putObject("rope_scaling").put("rope_type", "llama3")
                .put("factor", -2).put("low_freq_factor", 1).put("high_freq_factor", 4)
                .put("original_max_position_embeddings", 64)), "invalid rope_scaling factor: -2.0");
        add("intermediate_size a string", d -> withConfig(d, c -> c.put("intermediate_size", "big")),
                "missing or non-numeric field 'intermediate_size'");
        add("hidden_size 32.5", d -> withConfig(d, c -> c.put("hidden_size", 32.5)), "invalid hidden_size: 32.5");
        add("num_key_value_heads 3 of 4", d -> withConfig(d, c -> c.put("num_key_value_heads", 3)),
                "num_key_value_heads (must divide num_attention_heads 4)");
        add("max_position_embeddings 0", d -> withConfig(d, c -> c.put("max_position_embeddings", 0)),
                "invalid max_position_embeddings: 0");
        add("eos_token_id beyond vocab", d -> withConfig(d, c -> c.put("eos_token_id", 100_000)), "invalid eos_token_id");
        add("model_type missing", d -> withConfig(d, c -> c.remove("model_type")), "missing field 'model_type'");
        add("config.json is a directory", d -> {
            Path m = model(d);
            Files.delete(m.resolve("config.json"));
            Files.createDirectories(m.resolve("config.json"));
            return logprobs(d, m);
        }, "config.json: is a directory");
        add("--model is a file", d -> logprobs(d, text(d, "not-a-model", "x")), "not-a-model: is a file");

        // ---- vocabularies ----
        add("tokenizer beyond the model's vocabulary", d -> {
            Path m = model(d);
            Files.copy(otherTokenizer, m.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return sft(d);
        }, "tokenizer.json: token id", "is outside the model's vocabulary");
        add("dpo --ref-model of another vocabulary", d -> {
            Path m = model(d);
            Path ref = d.resolve("ref");
            Files.createDirectories(ref);
            ObjectNode c = (ObjectNode) TestSupport.readJson(m.resolve("config.json"));
            c.put("vocab_size", 1000);
            Files.writeString(ref.resolve("config.json"), c.toString());
            return new String[] {"dpo", "--model", m.toString(), "--data", prefData(d).toString(), "--out",
                    d.resolve("out").toString(), "--ref-model", ref.toString()};
        }, "--ref-model $DIR/ref has a vocabulary of 1000 tokens");
        add("prompt_ids beyond the vocabulary", d -> {
            String[] a = generate(d);
            Files.writeString(d.resolve("prompts.jsonl"), "{\"prompt\": \"ok\"}\n{\"prompt_ids\": [1, 99999]}\n");
            return a;
        }, "prompts.jsonl:2: field 'prompt_ids': token id 99999");

        // ---- numeric options ----
        add("--weight-decay NaN", d -> sft(d, "--weight-decay", "NaN"), "--weight-decay must be a finite number, got NaN");
        add("--lr Infinity", d -> sft(d, "--lr", "Infinity"), "--lr must be a finite number");
        add("--lr -1", d -> sft(d, "--lr", "-1"), "--lr must be a positive number");
        add("--batch-size 0", d -> sft(d, "--batch-size", "0"), "--batch-size");
        add("--batch-size -3", d -> sft(d, "--batch-size", "-3"), "--batch-size must not be negative, got -3");
        add("--epochs -1", d -> sft(d, "--epochs", "-1"), "--epochs must not be negative");
        add("--max-length -5", d -> sft(d, "--max-length", "-5"), "--max-length must not be negative");
        add("--save-total-limit 0", d -> sft(d, "--save-total-limit", "0"), "--save-total-limit >= 1");
        add("--eval-fraction 1.5", d -> sft(d, "--eval-fraction", "1.5"), "--eval-fraction must be within [0, 1)");
        add("--warmup-ratio NaN", d -> sft(d, "--warmup-ratio", "NaN"), "--warmup-ratio must be a finite number");
        add("--max-grad-norm Infinity", d -> sft(d, "--max-grad-norm", "Infinity"), "--max-grad-norm must be a finite");
        add("--adam-beta1 1", d -> sft(d, "--adam-beta1", "1"), "Adam betas must be within [0, 1)");
        add("--max-new-tokens near int max", d -> generate(d, "--max-new-tokens", "2147483647"),
                "prompts.jsonl:1: the prompt", "--max-new-tokens 2147483647 exceeds the model's 64 positions");
        add("--max-new-tokens 0", d -> generate(d, "--max-new-tokens", "0"), "--max-new-tokens must be at least 1");
        add("--temperature NaN", d -> generate(d, "--temperature", "NaN"), "--temperature must be a finite number");
        add("--top-p 0", d -> generate(d, "--top-p", "0"), "--top-p must be within (0, 1]");
        add("generate --batch-size 0", d -> generate(d, "--batch-size", "0"), "--batch-size must be at least 1");
        add("generate batch whose KV cache cannot fit", d -> {
            Path m = TinyModels.llama(d.resolve("long"), 2, 1 << 20);
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < 4000; i++) {
                b.append("{\"prompt_ids\": [1, 2, 3]}\n");
            }
            Path p = text(d, "many.jsonl", b.toString());
            return new String[] {"generate", "--model", m.toString(), "--prompts", p.toString(), "--batch-size",
                    "4000", "--max-new-tokens", "1000000"};
        }, "--batch-size: a generation batch of 4000 sequences", "GB of memory are available");
        add("dpo --beta NaN", d -> new String[] {"dpo", "--model", model(d).toString(), "--data", prefData(d).toString(),
                "--out", d.resolve("out").toString(), "--beta", "NaN"}, "--beta must be a finite number");
        add("dpo --label-smoothing 2", d -> new String[] {"dpo", "--model", model(d).toString(), "--data",
                prefData(d).toString(), "--out", d.resolve("out").toString(), "--label-smoothing", "2"}, "label");
        add("grpo --num-generations beyond memory", d -> new String[] {"grpo", "--policy", model(d).toString(),
                "--reward", "builtin:count:great", "--prompts", prompts(d).toString(), "--out",
                d.resolve("out").toString(), "--num-generations", "100000000", "--max-new-tokens", "8"},
                "--batch-size x --num-generations", "GB of memory are available");
        add("grpo --num-generations x --batch-size overflows", d -> new String[] {"grpo", "--policy",
                model(d).toString(), "--reward", "builtin:count:great", "--prompts", prompts(d).toString(), "--out",
                d.resolve("out").toString(), "--num-generations", "2000000000", "--batch-size", "4"},
                "sequences per rollout is more than 2^31 - 1");
        add("grpo: a prompt too long for --max-new-tokens", d -> {
            Path p = text(d, "long.jsonl", "{\"prompt\": \"The movie\"}\n{\"prompt_ids\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n");
            return new String[] {"grpo", "--policy", model(d).toString(), "--reward", "builtin:count:great", "--prompts",
                    p.toString(), "--out", d.resolve("out").toString(), "--max-new-tokens", "60"};
        }, "long.jsonl:2: the prompt (10 tokens) + --max-new-tokens 60 exceeds the policy's 64 positions");
        add("ppo --gamma NaN", d -> new String[] {"ppo", "--policy", model(d).toString(), "--reward", "builtin:count:great",
                "--prompts", prompts(d).toString(), "--out", d.resolve("out").toString(), "--gamma", "NaN"},
                "--gamma must be a finite number");

        // ---- data files ----
        add("--data is a directory", d -> {
            String[] a = sft(d);
            Files.delete(d.resolve("sft.jsonl"));
            Files.createDirectories(d.resolve("sft.jsonl"));
            return a;
        }, "sft.jsonl: is a directory; a JSONL file must be a file");
        add("--data missing", d -> {
            String[] a = sft(d);
            Files.delete(d.resolve("sft.jsonl"));
            return a;
        }, "sft.jsonl: no such file");
        add("--data invalid UTF-8 on line 3", d -> {
            String[] a = sft(d);
            Files.write(d.resolve("sft.jsonl"), ("{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\u00e9\"}\n")
                    .replace("\u00e9", "\u0001").getBytes(StandardCharsets.UTF_8));
            byte[] b = Files.readAllBytes(d.resolve("sft.jsonl"));
            for (int i = 0; i < b.length; i++) {
                if (b[i] == 1) {
                    b[i] = (byte) 0xFF;
                }
            }
            Files.write(d.resolve("sft.jsonl"), b);
            return a;
        }, "sft.jsonl:3: invalid UTF-8 (byte 0xFF");
        add("--prompts invalid UTF-8", d -> {
            String[] a = generate(d);
            Files.write(d.resolve("prompts.jsonl"), new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xC0, '"', '}', '\n'});
            return a;
        }, "prompts.jsonl:1: invalid UTF-8");
        add("--config invalid UTF-8", d -> {
            Files.write(d.resolve("run.yaml"), new byte[] {'l', 'r', ':', ' ', '1', '\n', '#', (byte) 0xFE, '\n'});
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "run.yaml:2: invalid UTF-8");
        add("--config not YAML", d -> {
            text(d, "run.yaml", "lr: [1, 2\nSECRET: {");
            return sft(d, "--config", d.resolve("run.yaml").toString());
        }, "run.yaml: not valid YAML (line");
        add("--config a directory", d -> {
            Files.createDirectories(d.resolve("conf"));
            return sft(d, "--config", d.resolve("conf").toString());
        }, "conf: is a directory; --config must be a file");
        add("generate: a too-long prompt on line 2 prints nothing", d -> {
            String[] a = generate(d, "--max-new-tokens", "60");
            Files.writeString(d.resolve("prompts.jsonl"), "{\"prompt\": \"The\"}\n{\"prompt_ids\": [1, 2, 3, 4, 5, 6, 7, 8]}\n");
            return a;
        }, "prompts.jsonl:2: the prompt (8 tokens) + --max-new-tokens 60 exceeds the model's 64 positions");
        add("generate: a bad record on line 3 prints nothing", d -> {
            String[] a = generate(d);
            Files.writeString(d.resolve("prompts.jsonl"), "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": 5}\n");
            return a;
        }, "prompts.jsonl:3: field 'prompt': must be a string");
        add("--prompts a directory", d -> {
            String[] a = generate(d);
            Files.delete(d.resolve("prompts.jsonl"));
            Files.createDirectories(d.resolve("prompts.jsonl"));
            return a;
        }, "prompts.jsonl: is a directory");
    }
}
