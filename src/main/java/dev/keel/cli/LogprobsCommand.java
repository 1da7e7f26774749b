package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.KeelException;
import dev.keel.data.ScoringRecord;
import dev.keel.train.SequenceScorer;
import dev.keel.model.CausalLM;
import dev.keel.model.io.DType;
import dev.keel.model.Head;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;

@Command(name = "logprobs", mixinStandardHelpOptions = true,
        description = {"Scores completions: prints one JSON line per record with the summed log-probability "
                + "of the completion given the prompt and its token count.",
                "",
                "Records are {\"prompt\", \"completion\"} text (tokenized separately and concatenated, as TRL "
                + "does) or pre-tokenized {\"prompt_ids\", \"completion_ids\"}.",
                "Output: {\"line\": N, \"logprob\": sum, \"num_tokens\": n} in input order."})
final class LogprobsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (Hugging Face layout).")
    Path model;

    @Option(names = "--adapter", description = "A LoRA adapter folder (PEFT's layout: adapter_config.json, "
            + "adapter_model.safetensors) to apply on top of --model.")
    Path adapter;

    @Option(names = "--data", required = true, description = "JSONL file of records.")
    Path data;

    @Option(names = "--batch-size", defaultValue = "16", description = "Records per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--dtype", defaultValue = "float32",
            description = "Compute dtype: float32, bfloat16 or float16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new KeelException("--batch-size must be at least 1, got " + batchSize);
        }
        Main.startNatives();
        DType dt = DType.parseFloat(dtype);
        CausalLM m = adapter == null ? ModelFiles.load(model, dt, null)
                : AdapterFiles.loadWithBase(model, adapter, dt, Head.LM);
        Tokenizer tok = Files.isRegularFile(model.resolve("tokenizer.json")) ? Tokenizer.load(model) : null;
        try {
            List<ScoringRecord> records = ScoringRecord.read(data, tok, m.config().vocabSize(),
                    m.config().maxPositions());
            long pad = tok != null && tok.padId() != null ? tok.padId() : 0;
            List<SequenceScorer.Score> scores = SequenceScorer.score(m, records, batchSize, pad);
            ObjectMapper json = new ObjectMapper();
            PrintWriter out = spec.commandLine().getOut();
            for (int i = 0; i < records.size(); i++) {
                ObjectNode o = json.createObjectNode();
                o.put("line", records.get(i).line());
                o.put("logprob", scores.get(i).logProb());
                o.put("num_tokens", scores.get(i).numTokens());
                out.println(o);
            }
            out.flush();
            return 0;
        } finally {
            if (tok != null) {
                tok.close();
            }
        }
    }
}
