package dev.keel.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;

/** Options of every trainer: the config file, the output folder and the seed. */
final class RunOptions {
    @Option(names = "--config", description = "YAML file of option: value; flags given here override it.")
    Path config;

    @Option(names = "--out", description = "Output folder: final model, metrics.jsonl, run_config.json, checkpoints.")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "Seeds data order, sampling and initialisation. Default: ${DEFAULT-VALUE}.")
    long seed;

    /** --out, which is required (but may come from --config, so picocli cannot require it). */
    Path out() {
        return TrainOptions.required(out, "--out");
    }
}
