package dev.keel.cli;

import java.nio.file.Path;
import java.util.List;

import picocli.CommandLine.Option;

import dev.keel.data.KtoData;
import dev.keel.data.KtoExample;
import dev.keel.data.PreferenceData;
import dev.keel.data.PreferencePair;
import dev.keel.data.Truncation;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

/** Options and reading shared by the preference trainers (reward, dpo, kto, orpo, cpo). */
final class PreferenceInputs {
    @Option(names = "--model", description = "Model directory to start from.")
    Path model;

    @Option(names = "--data", description = "Preference records (JSONL): prompt, chosen, rejected (kto: prompt, completion, label).")
    Path data;

    @Option(names = "--max-length", defaultValue = "1024", description = "Prompt + completion tokens. Default: ${DEFAULT-VALUE}.")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "512", description = "Prompt tokens (the end is kept). Default: ${DEFAULT-VALUE}.")
    int maxPromptLength;

    @Option(names = "--truncation", defaultValue = "keep_start",
            description = "keep_start (cut and count) or error. Default: ${DEFAULT-VALUE}.")
    String truncation;

    @Option(names = "--dtype", defaultValue = "float32", description = "Training dtype. Default: ${DEFAULT-VALUE}.")
    String dtype;

    /** What run_config.json records of the inputs. */
    record Settings(Path model, Path data, Path evalData, int maxLength, int maxPromptLength, String truncation,
                    String dtype) {}

    Settings settings(TrainOptions opts) {
        return new Settings(model, data, opts.evalData, maxLength, maxPromptLength, truncation, dtype);
    }

    /** Train and held-out records (from --eval-data, or --eval-fraction of --data). */
    record Split<T>(List<T> train, List<T> eval, int truncated) {}

    Split<PreferencePair> read(Tokenizer tok, long vocabSize, int maxPositions, TrainOptions opts) {
        TrainOptions.required(model, "--model");
        TrainOptions.required(data, "--data");
        Truncation t = TrainCommands.truncation(truncation);
        ChatTemplate template = TrainCommands.chatTemplateOrNull(model, tok);
        int max = Math.min(maxLength, maxPositions);
        PreferenceData.Result all = PreferenceData.read(data, tok, template, vocabSize, max, Math.min(maxPromptLength, max - 1), t);
        if (opts.evalData != null) {
            return new Split<>(all.pairs(), PreferenceData.read(opts.evalData, tok, template, vocabSize, max,
                    Math.min(maxPromptLength, max - 1), t).pairs(), all.truncated());
        }
        List<List<PreferencePair>> parts = RunFolder.split(all.pairs(), opts.evalFraction, opts.seed());
        return new Split<>(parts.get(0), parts.get(1), all.truncated());
    }

    /** Train and held-out unpaired records, KTO's {"prompt", "completion", "label"} (same options as pairs). */
    Split<KtoExample> readUnpaired(Tokenizer tok, long vocabSize, int maxPositions, TrainOptions opts) {
        TrainOptions.required(model, "--model");
        TrainOptions.required(data, "--data");
        Truncation t = TrainCommands.truncation(truncation);
        ChatTemplate template = TrainCommands.chatTemplateOrNull(model, tok);
        int max = Math.min(maxLength, maxPositions);
        int maxPrompt = Math.min(maxPromptLength, max - 1);
        KtoData.Result all = KtoData.read(data, tok, template, vocabSize, max, maxPrompt, t);
        if (opts.evalData != null) {
            return new Split<>(all.examples(), KtoData.read(opts.evalData, tok, template, vocabSize, max, maxPrompt, t)
                    .examples(), all.truncated());
        }
        List<List<KtoExample>> parts = RunFolder.split(all.examples(), opts.evalFraction, opts.seed());
        return new Split<>(parts.get(0), parts.get(1), all.truncated());
    }
}
