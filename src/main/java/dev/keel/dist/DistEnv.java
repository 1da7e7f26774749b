package dev.keel.dist;

import java.util.Map;

import dev.keel.KeelException;

/**
 * Where this process stands in a data-parallel run, read from the variables {@code torchrun} sets (and
 * {@code keel launch} sets the same way): {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK},
 * {@code LOCAL_WORLD_SIZE}, {@code MASTER_ADDR}, {@code MASTER_PORT}. Without {@code WORLD_SIZE} (or with 1) the
 * run is a single process and nothing else is read.
 *
 * @param rank           this process's rank, 0 ≤ rank &lt; worldSize; rank 0 hosts the rendezvous store and
 *                       alone writes the output folder
 * @param worldSize      processes in the run
 * @param localRank      rank among the processes of this machine
 * @param localWorldSize processes on this machine (threads per rank default to cores / this)
 * @param masterAddr     host of rank 0's rendezvous store
 * @param masterPort     its TCP port
 */
public record DistEnv(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr, int masterPort) {
    public DistEnv {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new KeelException("RANK must be within [0, WORLD_SIZE), got RANK " + rank + " and WORLD_SIZE "
                    + worldSize);
        }
        if (localWorldSize < 1 || localRank < 0 || localRank >= localWorldSize) {
            throw new KeelException("LOCAL_RANK must be within [0, LOCAL_WORLD_SIZE), got " + localRank + " and "
                    + localWorldSize);
        }
        if (worldSize > 1 && (masterPort < 1 || masterPort > 65535)) {
            throw new KeelException("MASTER_PORT must be within [1, 65535], got " + masterPort);
        }
    }

    /** A single process: rank 0 of 1. */
    public static DistEnv single() {
        return new DistEnv(0, 1, 0, 1, "127.0.0.1", 0);
    }

    /** Reads torchrun's variables from {@code env}; a single process when {@code WORLD_SIZE} is unset or 1. */
    public static DistEnv from(Map<String, String> env) {
        int world = number(env, "WORLD_SIZE", 1);
        if (world == 1) {
            return single();
        }
        for (String name : new String[] {"RANK", "MASTER_ADDR", "MASTER_PORT"}) {
            if (env.get(name) == null || env.get(name).isBlank()) {
                throw new KeelException("WORLD_SIZE is " + world + " but " + name + " is not set; launch with "
                        + "torchrun or keel launch, which set RANK, MASTER_ADDR and MASTER_PORT");
            }
        }
        int rank = number(env, "RANK", 0);
        int localWorld = number(env, "LOCAL_WORLD_SIZE", world);
        return new DistEnv(rank, world, number(env, "LOCAL_RANK", rank % localWorld), localWorld,
                env.get("MASTER_ADDR").trim(), number(env, "MASTER_PORT", 0));
    }

    private static int number(Map<String, String> env, String name, int absent) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return absent;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new KeelException(name + " must be a whole number, got '" + v + "'");
        }
    }
}
