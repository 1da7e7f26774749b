package dev.keel.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.KeelException;
import dev.keel.model.CausalLM;
import dev.keel.model.io.AdapterFiles;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merges a LoRA adapter into its base model and writes a plain Hugging Face checkpoint (PEFT's "
                + "merge_and_unload): each adapted weight becomes W + (alpha/r) * B A (alpha/sqrt(r) with use_rslora; "
                + "transposed for GPT-2's Conv1D layers), so transformers, vLLM or llama.cpp load it without PEFT.",
                "A reward model's adapter (task_type SEQ_CLS) gives a ...ForSequenceClassification model with its "
                + "trained score head. The tokenizer files of --model are copied along."})
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "The base model the adapter was trained on.")
    Path model;

    @Option(names = "--adapter", required = true, description = "The adapter folder (adapter_config.json, "
            + "adapter_model.safetensors), Keel's or PEFT's.")
    Path adapter;

    @Option(names = "--out", required = true, description = "Folder for the merged model (not --model itself).")
    Path out;

    @Option(names = "--dtype", defaultValue = "float32", description = "dtype of the written weights (the merge is "
            + "computed in float32). Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Override
    public Integer call() {
        DType dt = DType.parseFloat(dtype);
        if (out.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new KeelException("--out " + out + " is --model itself; write the merged model into another folder");
        }
        Main.startNatives();
        CausalLM withAdapter = AdapterFiles.loadWithBase(model, adapter, DType.F32, AdapterFiles.head(adapter));
        CausalLM merged = CausalLM.create(withAdapter.config(), withAdapter.adapters().merge(withAdapter.weights()));
        ModelFiles.save(merged, out, dt, ModelFiles.DEFAULT_MAX_SHARD_BYTES, model);
        spec.commandLine().getOut().printf("merge: %d adapted layers of %s merged into %s%n",
                withAdapter.adapters().pairs().size(), model, out);
        return 0;
    }
}
