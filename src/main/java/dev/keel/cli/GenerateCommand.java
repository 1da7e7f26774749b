package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.KeelException;
import dev.keel.data.ChatEncoder;
import dev.keel.data.Jsonl;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.CausalLM;
import dev.keel.model.io.DType;
import dev.keel.model.Head;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Samples completions with a KV cache, many prompts per batch.",
                "With --prompt, prints the completion; with --prompts FILE.jsonl ({\"prompt\": ...} or "
                + "{\"prompt_ids\": [...]}, or {\"messages\": [...]} with --chat), prints one JSON line per record: "
                + "line, completion, num_tokens, logprob (summed, at the sampling temperature), finish_reason "
                + "(eos, stop, length)."})
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "Model directory (Hugging Face layout, with tokenizer.json); "
            + "default: Keel's embedded base model.")
    Path model;

    @Option(names = "--adapter", description = "A LoRA adapter folder (PEFT's layout: adapter_config.json, "
            + "adapter_model.safetensors) to apply on top of --model.")
    Path adapter;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", description = "One prompt (a user message with --chat).")
        String prompt;

        @Option(names = "--prompts", description = "JSONL file of prompts.")
        Path prompts;
    }

    @Option(names = "--chat", description = "Render prompts with the model's chat template (add_generation_prompt).")
    boolean chat;

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "1.0", description = "0 = greedy. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "0 = off. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "1 = off. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Same seed, same samples. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", description = "Stop string (repeatable); the completion is cut before it.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--batch-size", defaultValue = "16", description = "Prompts per batch. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--dtype", defaultValue = "float32", description = "float32, bfloat16 or float16. One sequence in bfloat16 decodes on Keel's own kernel, "
            + "and a Llama-family model's tokens after the prompt, in float32 or bfloat16, on the JVM; at any batch each new "
            + "token's attention runs on the JVM (README, \"Threads and "
            + "memory\"; KEEL_BF16_MV=0 or KEEL_JVM_STEP=0 keeps libtorch's). Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new KeelException("--batch-size must be at least 1, got " + batchSize);
        }
        // validate the sampling options before loading anything
        new SamplingConfig(maxNewTokens, temperature, topK, topP, seed, Set.of(), true);
        Main.startNatives();
        model = dev.keel.model.EmbeddedModel.orDefault(model);
        CausalLM m = adapter == null ? ModelFiles.load(model, DType.parseFloat(dtype), null)
                : AdapterFiles.loadWithBase(model, adapter, DType.parseFloat(dtype), Head.LM);
        try (Tokenizer tok = Tokenizer.load(model)) {
            Set<Long> eos = new LinkedHashSet<>();
            m.config().eosTokenIds().forEach(i -> eos.add((long) i));
            if (tok.eosId() != null) {
                eos.add(tok.eosId());
            }
            SamplingConfig cfg = new SamplingConfig(maxNewTokens, temperature, topK, topP, seed, eos, true);
            ChatEncoder chatEncoder = null;
            if (chat) {
                var t = TrainCommands.chatTemplateOrNull(model, tok);
                if (t == null) {
                    throw new KeelException(model + ": --chat needs a chat_template in tokenizer_config.json");
                }
                chatEncoder = new ChatEncoder(t, tok);
            }
            PromptEncoder enc = new PromptEncoder(tok, chatEncoder);
            List<Integer> lines = new ArrayList<>();
            List<long[]> prompts = new ArrayList<>();
            if (input.prompt != null) {
                lines.add(0);
                prompts.add(enc.text(input.prompt, "--prompt"));
            } else {
                for (Jsonl.Line l : Jsonl.read(input.prompts)) {
                    lines.add(l.number());
                    prompts.add(enc.record(l, m.config().vocabSize()));
                }
            }
            // every record is checked before anything is printed: a length that cannot be generated is an error
            // naming its line, and the batches must fit in memory
            long positions = m.config().maxPositions();
            int longest = 0;
            for (int i = 0; i < prompts.size(); i++) {
                int len = prompts.get(i).length;
                longest = Math.max(longest, len);
                if ((long) len + maxNewTokens > positions) {
                    String where = input.prompt != null ? "--prompt" : input.prompts + ":" + lines.get(i);
                    throw new KeelException(where + ": the prompt (" + len + " tokens) + --max-new-tokens "
                            + maxNewTokens + " exceeds the model's " + positions + " positions");
                }
            }
            dev.keel.generate.GenerationBudget.check(m.config(), Math.min(batchSize, prompts.size()), longest,
                    maxNewTokens, m.dtype().bytes(), "--batch-size");
            StopCriterion stopper = stop.isEmpty() ? StopCriterion.NEVER
                    : (i, gen) -> stop.stream().anyMatch(s -> tok.decode(gen, false).contains(s));
            PrintWriter out = spec.commandLine().getOut();
            ObjectMapper json = new ObjectMapper();
            for (int start = 0; start < prompts.size(); start += batchSize) {
                List<long[]> batch = prompts.subList(start, Math.min(prompts.size(), start + batchSize));
                long pad = tok.padId() != null ? tok.padId() : 0;
                Generation g = BatchGenerator.generate(m, batch, cfg, stopper, pad);
                for (int i = 0; i < batch.size(); i++) {
                    String text = cut(tok.decode(g.tokens().get(i), true));
                    if (input.prompt != null) {
                        out.println(text);
                        continue;
                    }
                    ObjectNode o = json.createObjectNode();
                    o.put("line", lines.get(start + i));
                    o.put("completion", text);
                    o.put("num_tokens", g.tokens().get(i).length);
                    double lp = 0;
                    for (float x : g.logProbs().get(i)) {
                        lp += x;
                    }
                    o.put("logprob", lp);
                    o.put("finish_reason", g.finish().get(i).name().toLowerCase());
                    out.println(o);
                }
                out.flush();
            }
        }
        return 0;
    }

    /** The completion up to the first stop string. */
    private String cut(String text) {
        int at = text.length();
        for (String s : stop) {
            int i = text.indexOf(s);
            if (i >= 0) {
                at = Math.min(at, i);
            }
        }
        return text.substring(0, at);
    }
}
