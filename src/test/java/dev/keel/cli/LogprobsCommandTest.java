package dev.keel.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.data.Collator;
import dev.keel.loss.LogProbs;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;

class LogprobsCommandTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    record Result(int code, String out, String err) {
        List<JsonNode> lines() {
            return out.lines().map(TestSupport::parse).toList();
        }
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void preTokenizedRecordsGetOneLineEachInInputOrder() throws IOException {
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt_ids\": [5, 93, 43], \"completion_ids\": [54, 28, 13, 0]}\n"
                + "\n"
                + "{\"prompt_ids\": [83], \"completion_ids\": [32]}\n");
        Result r = run("logprobs", "--model", TestSupport.fixture("parity/gpt2-tiny").toString(), "--data", data.toString());
        assertEquals(0, r.code(), r.err());
        List<JsonNode> lines = r.lines();
        assertEquals(2, lines.size());
        assertEquals(1, lines.get(0).get("line").asInt());
        assertEquals(4, lines.get(0).get("num_tokens").asInt());
        assertEquals(3, lines.get(1).get("line").asInt(), "blank lines count in line numbers");
        assertEquals(1, lines.get(1).get("num_tokens").asInt());
        assertTrue(lines.get(0).get("logprob").asDouble() < 0);
    }

    @Test
    void textRecordsAreTokenizedPromptAndCompletionApartThenJoined() throws IOException {
        Path model = tmp.resolve("gpt2-random");
        dev.keel.tokenizer.Gpt2TokenizerTestAccess.buildGpt2TokenizerDir(model);
        CausalLM lm = ModelInit.random(ConfigFactory.gpt2(50257, 16, 1, 2, 64, 50256, 50256), 5, null);
        ModelFiles.save(lm, model);
        Path data = tmp.resolve("text.jsonl");
        Files.writeString(data, "{\"prompt\": \"The movie was\", \"completion\": \" great fun\"}\n");
        Result r = run("logprobs", "--model", model.toString(), "--data", data.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode line = r.lines().get(0);
        try (Tokenizer tok = Tokenizer.load(model); PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            long[] p = tok.encode("The movie was", true);
            long[] c = tok.encode(" great fun", false);
            assertEquals(c.length, line.get("num_tokens").asInt());
            Collator.Batch b = Collator.rightPad(List.of(p), List.of(c), 50256, null);
            double want = Tensors.toFloats(LogProbs.sequence(lm.forward(b.inputIds(), b.keep()), b.inputIds(),
                    b.completionMask()).logProbs())[0];
            assertEquals(want, line.get("logprob").asDouble(), 1e-4);
        }
    }

    @Test
    void aMalformedLineIsAnErrorNamingFileAndLine() throws IOException {
        Path data = tmp.resolve("bad.jsonl");
        Files.writeString(data, "{\"prompt_ids\": [1], \"completion_ids\": [2]}\n{\"prompt_ids\": [1], \n");
        Result r = run("logprobs", "--model", TestSupport.fixture("parity/gpt2-tiny").toString(), "--data", data.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(data + ":2") && r.err().contains("not valid JSON"), r.err());
        assertEquals("", r.out(), "nothing printed for a file that fails validation");
    }

    @Test
    void aMissingFieldAndAnOutOfRangeIdAreNamed() throws IOException {
        Path data = tmp.resolve("bad2.jsonl");
        Files.writeString(data, "{\"prompt_ids\": [1]}\n");
        Result r = run("logprobs", "--model", TestSupport.fixture("parity/gpt2-tiny").toString(), "--data", data.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(data + ":1") && r.err().contains("'completion_ids'") && r.err().contains("missing"), r.err());
        Files.writeString(data, "{\"prompt_ids\": [1], \"completion_ids\": [2, 96]}\n");
        r = run("logprobs", "--model", TestSupport.fixture("parity/gpt2-tiny").toString(), "--data", data.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("'completion_ids'") && r.err().contains("token id 96"), r.err());
    }

    @Test
    void textRecordsWithoutATokenizerAskForIds() throws IOException {
        Path data = tmp.resolve("t.jsonl");
        Files.writeString(data, "{\"prompt\": \"hi\", \"completion\": \" there\"}\n");
        Result r = run("logprobs", "--model", TestSupport.fixture("parity/gpt2-tiny").toString(), "--data", data.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("no tokenizer.json") && r.err().contains(data + ":1"), r.err());
    }

    @Test
    void helpDescribesTheOptions() {
        Result r = run("logprobs", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--model") && r.out().contains("--data") && r.out().contains("--batch-size"), r.out());
    }

    @Test
    void anUnknownOptionIsAUsageError() {
        Result r = run("logprobs", "--modle", "x");
        assertEquals(2, r.code());
    }
}
