package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.keel.bench.DpBench;
import dev.keel.bench.TrainBench;
import dev.keel.dist.Distributed;
import dev.keel.model.CausalLM;

/**
 * {@code keel bench dp}: data-parallel SFT steps as 2 ranks x 1 thread against 1 rank x 2 threads, each layout
 * in fresh JVMs (torchrun's variables on 127.0.0.1, Gloo), at the sft case's shapes and global batch.
 */
final class BenchDp {
    /** The layouts compared: ranks and libtorch threads per rank. */
    private static final int[][] LAYOUTS = {{1, 2}, {2, 1}};

    private BenchDp() {}

    static void run(PrintWriter out, List<String> shapes, Path dir, int repeats) throws Exception {
        out.printf("%ndp: SFT steps (forward, backward, gradient all-reduce in 25 MB flat buckets over Gloo on "
                + "127.0.0.1, AdamW), the sft case's global batch, median of %d%n", repeats);
        out.printf("%-11s %-18s %12s %10s %16s%n", "shape", "layout", "tok/s", "s/step", "all-reduce share");
        for (String shapeName : shapes) {
            TrainBench.Shape shape = BenchMemory.shape(shapeName);
            Path mdir = Files.createDirectories(dir.resolve("dp-" + shapeName));
            TrainBench.writeModel(shape, mdir).release();
            for (int[] layout : LAYOUTS) {
                DpBench.Result r = layout(shapeName, mdir, layout[0], layout[1], repeats);
                out.printf("%-11s %-18s %12.0f %10.3f %15.1f%%%n", shapeName,
                        layout[0] + " rank x " + layout[1] + " thread", r.tokensPerSecond(), r.secondsPerStep(),
                        100 * r.reduceShare());
                out.flush();
            }
        }
    }

    /** Starts the ranks of one layout and reads rank 0's result line. */
    private static DpBench.Result layout(String shape, Path mdir, int ranks, int threads, int repeats) throws Exception {
        int port = LaunchCommand.freePort();
        List<Process> ps = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                    "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench",
                    "--dp-rank-of", shape, "--model-dir", mdir.toString(), "--repeats", String.valueOf(repeats)));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
            Map<String, String> env = pb.environment();
            for (String v : new String[] {"KEEL_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
                env.put(v, String.valueOf(threads));
            }
            if (ranks > 1) {
                env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "" + ranks, "LOCAL_RANK", "" + r,
                        "LOCAL_WORLD_SIZE", "" + ranks, "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port));
            }
            ps.add(pb.start());
        }
        String text = new String(ps.get(0).getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        for (int r = 0; r < ranks; r++) {
            if (ps.get(r).waitFor() != 0) {
                throw new IllegalStateException("bench dp: rank " + r + " of the " + ranks + " x " + threads
                        + " layout at " + shape + " failed (exit " + ps.get(r).exitValue() + ")");
            }
        }
        String[] f = text.substring(text.lastIndexOf('\n') + 1).trim().split(" ");
        return new DpBench.Result(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]));
    }

    /** One rank of a layout: joins the run of its environment, times the steps, prints the result (rank 0). */
    static Integer child(PrintWriter out, String shapeName, Path modelDir, int repeats) {
        Main.startNatives();
        TrainBench.Shape shape = BenchMemory.shape(shapeName);
        CausalLM m = dev.keel.model.io.ModelFiles.load(modelDir, null, null);
        try (Distributed dist = Distributed.fromEnvironment(300)) {
            DpBench.Result r = DpBench.run(m, shape, dist, repeats);
            out.println(r.secondsPerStep() + " " + r.tokensPerSecond() + " " + r.reduceShare());
            out.flush();
        }
        return 0;
    }
}
