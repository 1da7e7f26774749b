package dev.keel.dist;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.bytedeco.pytorch.Tensor;

import dev.keel.cli.Main;
import dev.keel.model.io.Safetensors;

/**
 * Test helper: keel commands run as separate JVMs, one per rank, with torchrun's variables on 127.0.0.1 and a
 * free port (as torchrun starts them), each on one libtorch thread; outputs go to files in a folder.
 */
final class Ranks {
    record Run(int code, String err) {}

    private Ranks() {}

    /** Starts rank {@code rank} of {@code world} (world 1: a plain process without torchrun's variables). */
    static Process start(Path logs, int rank, int world, int port, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Map<String, String> env = pb.environment();
        env.put("OMP_WAIT_POLICY", "PASSIVE");
        env.put("KEEL_THREADS", "1");
        if (world > 1) {
            env.putAll(Map.of("RANK", "" + rank, "WORLD_SIZE", "" + world, "LOCAL_RANK", "" + rank,
                    "LOCAL_WORLD_SIZE", "" + world, "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port));
        }
        Files.createDirectories(logs);
        pb.redirectOutput(logs.resolve("rank" + rank + ".out").toFile());
        pb.redirectError(logs.resolve("rank" + rank + ".err").toFile());
        return pb.start();
    }

    /** Runs {@code args} on {@code world} ranks and waits for all (at most 240 s). */
    static List<Run> run(Path logs, int world, String... args) throws IOException, InterruptedException {
        int port = freePort();
        List<Process> ps = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            ps.add(start(logs, r, world, port, args));
        }
        List<Run> out = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            out.add(finish(ps.get(r), logs, r, 240));
        }
        return out;
    }

    static Run finish(Process p, Path logs, int rank, long seconds) throws IOException, InterruptedException {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("rank " + rank + " did not finish in " + seconds + " s");
        }
        return new Run(p.exitValue(), Files.readString(logs.resolve("rank" + rank + ".err")));
    }

    static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The largest absolute difference between the weights of two model folders (same tensor names). */
    static double maxDifference(Path a, Path b) {
        Safetensors.Header ha = Safetensors.readHeader(a.resolve("model.safetensors"));
        Safetensors.Header hb = Safetensors.readHeader(b.resolve("model.safetensors"));
        double max = 0;
        if (!ha.entries().keySet().equals(hb.entries().keySet())) {
            throw new AssertionError("the two models have different tensors");
        }
        for (String n : ha.entries().keySet()) {
            Tensor d = Safetensors.read(ha, n).sub(Safetensors.read(hb, n)).abs().max();
            max = Math.max(max, d.item().toDouble());
        }
        return max;
    }
}
