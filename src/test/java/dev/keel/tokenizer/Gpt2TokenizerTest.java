package dev.keel.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.model.io.ModelFiles;

/** A tokenizer.json built from OpenAI's GPT-2 files reproduces llama.cpp's 46 GPT-2 tokenizer cases. */
class Gpt2TokenizerTest {
    @TempDir
    Path tmp;

    static Path buildGpt2TokenizerDir(Path dir) throws IOException {
        Path assets = TestSupport.fixture("gpt2-tokenizer");
        Files.createDirectories(dir);
        ModelFiles.writeJson(dir.resolve("tokenizer.json"),
                BpeTokenizerJson.fromGpt2Files(assets.resolve("encoder.json"), assets.resolve("vocab.bpe")));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}");
        return dir;
    }

    @Test
    void reproducesAllFortySixLlamaCppCases() throws IOException {
        Path assets = TestSupport.fixture("gpt2-tokenizer");
        List<String> inputs = new ArrayList<>(Arrays.asList(
                Files.readString(assets.resolve("cases.inp"), StandardCharsets.UTF_8).split("\n__ggml_vocab_test__\n", -1)));
        List<String> outputs = new ArrayList<>(Arrays.asList(
                Files.readString(assets.resolve("cases.out"), StandardCharsets.UTF_8).split("\n", -1)));
        // both files end with a separator: drop the empty tail
        inputs.remove(inputs.size() - 1);
        outputs.remove(outputs.size() - 1);
        assertEquals(46, inputs.size());
        assertEquals(46, outputs.size());
        try (Tokenizer tok = Tokenizer.load(buildGpt2TokenizerDir(tmp.resolve("gpt2")))) {
            for (int i = 0; i < inputs.size(); i++) {
                String line = outputs.get(i).trim();
                long[] want = line.isEmpty() ? new long[0]
                        : Arrays.stream(line.split("\\s+")).mapToLong(Long::parseLong).toArray();
                assertArrayEquals(want, tok.encode(inputs.get(i), false), "case " + i + ": '" + inputs.get(i) + "'");
                assertEquals(inputs.get(i), tok.decode(want, false), "decode of case " + i);
            }
            assertEquals(50256L, tok.eosId());
            assertEquals(50256L, tok.bosId());
        }
    }
}
