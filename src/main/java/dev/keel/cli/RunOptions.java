package dev.keel.cli;

import java.nio.file.Path;

import dev.keel.dist.Distributed;

import picocli.CommandLine.Option;

/** Options of every trainer: the config file, the output folder and the seed. */
final class RunOptions {
    @Option(names = "--config", description = "YAML file of option: value; flags given here override it.")
    Path config;

    @Option(names = "--out", description = "Output folder: final model, metrics.jsonl, run_config.json, checkpoints.")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "Seeds data order, sampling and initialisation. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--dist-timeout", defaultValue = "300", description = {"Data-parallel runs (under torchrun or keel "
            + "launch): seconds a rank waits for the others at the rendezvous and in each all-reduce before it stops "
            + "with an error naming the rank that stopped. Default: ${DEFAULT-VALUE}."})
    int distTimeout;

    /**
     * Joins the data-parallel run torchrun's variables describe (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or
     * a single process without them. Natives must be started.
     */
    Distributed distributed() {
        return Distributed.fromEnvironment(distTimeout);
    }

    /** Refuses to start under torchrun or keel launch a command that does not train data-parallel. */
    static void singleProcess(String command) {
        if (dev.keel.dist.DistEnv.from(System.getenv()).worldSize() > 1) {
            throw new dev.keel.KeelException(command + " does not train data-parallel yet (sft, reward, dpo, orpo, "
                    + "cpo, ppo, rloo and grpo do); run it as one process (without torchrun or keel launch)");
        }
    }

    /** --out, which is required (but may come from --config, so picocli cannot require it). */
    Path out() {
        return TrainOptions.required(out, "--out");
    }
}
