package dev.keel.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import sun.misc.Signal;

import dev.keel.KeelException;

/**
 * {@code keel launch --nproc N -- COMMAND ...}: what {@code torchrun --nproc-per-node N --no-python ./keel COMMAND
 * ...} does on one machine, without Python. Starts N JVMs with torchrun's variables, forwards SIGTERM and SIGINT to
 * them, and when one fails stops the others and exits non-zero naming it.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = {"Runs a Keel training command data-parallel on this machine: one process (rank) per --nproc, "
                + "as torchrun --nproc-per-node N --no-python ./keel COMMAND ... would.",
                "Sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR (127.0.0.1) and MASTER_PORT for "
                + "each rank. Data-parallel commands: sft, reward, dpo, orpo, cpo, ppo, rloo, grpo. --batch-size is per rank (the "
                + "global batch is --batch-size x N); rank 0 alone writes --out.",
                "SIGTERM/SIGINT go to every rank. When a rank fails, the others are stopped and launch exits "
                + "non-zero naming it. See docs/SCALING.md for several machines (torchrun, Slurm).",
                "Example: keel launch --nproc 2 -- dpo --model m --data pairs.jsonl --out runs/dpo --batch-size 4"})
final class LaunchCommand implements Callable<Integer> {
    /** How long the other ranks get to stop after SIGTERM before they are killed. */
    private static final long GRACE_SECONDS = 10;

    @Spec
    CommandSpec spec;

    @Option(names = "--nproc", required = true, description = "Ranks (processes) to start on this machine.")
    int nproc;

    @Option(names = "--master-port", defaultValue = "0",
            description = "Port of rank 0's rendezvous store on 127.0.0.1 (default: a free one).")
    int masterPort;

    @Option(names = "--threads-per-rank", defaultValue = "0",
            description = "libtorch threads of each rank (default: KEEL_THREADS, else the cores divided by --nproc).")
    int threadsPerRank;

    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The keel command line each rank runs, after --.")
    List<String> command;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (nproc < 1) {
            throw new KeelException("--nproc must be at least 1, got " + nproc);
        }
        if (masterPort < 0 || masterPort > 65535) {
            throw new KeelException("--master-port must be within [0, 65535], got " + masterPort);
        }
        int port = masterPort > 0 ? masterPort : freePort();
        List<Process> ranks = new ArrayList<>();
        Runnable forward = () -> ranks.forEach(Process::destroy);
        Signal.handle(new Signal("TERM"), sig -> forward.run());
        Signal.handle(new Signal("INT"), sig -> forward.run());
        for (int r = 0; r < nproc; r++) {
            ranks.add(start(r, port));
        }
        return watch(ranks);
    }

    /** Waits for every rank; the first that fails stops the others and names itself in the exit message. */
    private int watch(List<Process> ranks) throws InterruptedException {
        while (true) {
            boolean allDone = true;
            for (int r = 0; r < ranks.size(); r++) {
                Process p = ranks.get(r);
                if (p.isAlive()) {
                    allDone = false;
                } else if (p.exitValue() != 0) {
                    stopAll(ranks);
                    throw new KeelException("rank " + r + " of " + ranks.size() + " exited with code " + p.exitValue()
                            + "; the other ranks were stopped");
                }
            }
            if (allDone) {
                return 0;
            }
            Thread.sleep(100);
        }
    }

    private static void stopAll(List<Process> ranks) throws InterruptedException {
        ranks.forEach(Process::destroy);
        for (Process p : ranks) {
            if (!p.waitFor(GRACE_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private Process start(int rank, int port) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-Dkeel.jar.copy=")) { // the launcher's jar copy belongs to this process
                cmd.add(a);
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
        Map<String, String> env = pb.environment();
        env.put("RANK", String.valueOf(rank));
        env.put("LOCAL_RANK", String.valueOf(rank));
        env.put("WORLD_SIZE", String.valueOf(nproc));
        env.put("LOCAL_WORLD_SIZE", String.valueOf(nproc));
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", String.valueOf(port));
        String threads = String.valueOf(threads());
        env.put("KEEL_THREADS", threads);
        env.put("OMP_NUM_THREADS", threads);
        env.put("OPENBLAS_NUM_THREADS", threads);
        return pb.start();
    }

    /** --threads-per-rank, else KEEL_THREADS as given, else the cores shared among the ranks. */
    private int threads() {
        if (threadsPerRank > 0) {
            return threadsPerRank;
        }
        String own = System.getenv("KEEL_THREADS");
        if (own != null && !own.isBlank()) {
            return Integer.parseInt(own.trim());
        }
        return Math.max(1, Runtime.getRuntime().availableProcessors() / nproc);
    }

    /** A port nobody listens on now (the kernel's pick); rank 0 binds it a moment later. */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
