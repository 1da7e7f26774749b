package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.global.torch.ScalarType;

import dev.keel.bench.RealShapeBench;
import dev.keel.bench.TorchReference;
import dev.keel.model.io.ModelConfig;

/**
 * {@code keel bench real}: DPO steps and decoding at the shapes of released models, each case in a fresh JVM
 * (its peak resident size is its own) and the same case in the PyTorch reference (scripts/bench/torch_real_shapes.py).
 */
final class BenchReal {
    private BenchReal() {}

    /** Runs every shape x mode and the decoding cases; returns why no ratio was printed, or null. */
    static String run(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir, List<String> shapes,
                      List<String> modes, List<Integer> genBatches, int newTokens, int repeats) throws Exception {
        double f32 = RealShapeBench.matmulPeak(ScalarType.Float);
        double bf16 = RealShapeBench.matmulPeak(ScalarType.BFloat16);
        double bandwidth = RealShapeBench.readBandwidth();
        out.printf("%nreal shapes: DPO step of %d pairs x %d tokens (precomputed reference), LoRA r %d alpha %.0f on every "
                        + "linear layer, %d threads; matmul peak float32 %.1f, bfloat16 %.1f GFLOP/s; read bandwidth %.1f GB/s%n",
                RealShapeBench.PAIRS, RealShapeBench.SEQ, RealShapeBench.LORA_R, RealShapeBench.LORA_ALPHA, threads,
                f32 / 1e9, bf16 / 1e9, bandwidth / 1e9);
        out.printf("%-13s %-15s %10s %11s %7s %7s %10s %10s%n", "shape", "mode", "keel tok/s", "torch tok/s", "ratio",
                "MFU", "keel MB", "torch MB");
        out.flush();
        for (String shapeName : shapes) {
            RealShapeBench.Shape shape = RealShapeBench.Shape.of(shapeName);
            Path mdir = dir.resolve(shape.key);
            RealShapeBench.writeModel(shape, mdir);
            BenchCommand.releaseFreeMemory();    // the model written (and the peak measured): its memory back to the cases
            for (String modeName : modes) {
                RealShapeBench.Mode mode = RealShapeBench.Mode.parse(modeName);
                JsonNode k = child(shape.key + ":" + mode.key(), mdir, repeats);
                JsonNode r = null;
                if (refMissing == null) {
                    List<String> args = new ArrayList<>(List.of("--case", "dpo", "--model", mdir.toString(),
                            "--seq", String.valueOf(RealShapeBench.SEQ), "--pairs", String.valueOf(RealShapeBench.PAIRS),
                            "--repeats", String.valueOf(repeats)));
                    args.addAll(mode.referenceArgs());
                    r = ref.runRealShapes(threads, args);
                    refMissing = BenchCommand.hugePageProblem(r);
                    r = refMissing == null ? r : null;
                }
                double peak = mode.bf16() ? bf16 : f32;
                double mfu = k.get("flops").asDouble() / k.get("seconds").asDouble() / peak;
                out.printf("%-13s %-15s %10.1f %11s %7s %6.1f%% %10.0f %10s%n", shape.key, mode.key(),
                        k.get("tokens_per_s").asDouble(), r == null ? "-" : String.format("%.1f", r.get("tokens_per_s").asDouble()),
                        r == null ? "n/a" : String.format("%.2f", k.get("tokens_per_s").asDouble() / r.get("tokens_per_s").asDouble()),
                        100 * mfu, k.get("peak_rss_mb").asDouble(), r == null ? "-" : String.format("%.0f", r.get("peak_rss_mb").asDouble()));
                out.flush();
            }
            ModelConfig config = shape.config();
            for (boolean bf : new boolean[] {false, true}) {
                for (int b : genBatches) {
                    JsonNode k = child(shape.key + ":gen-" + (bf ? "bf16" : "f32") + "-" + b + "-" + newTokens, mdir, repeats);
                    JsonNode r = null;
                    if (refMissing == null) {
                        List<String> args = new ArrayList<>(List.of("--case", "generate", "--model", mdir.toString(),
                                "--batch", String.valueOf(b), "--new-tokens", String.valueOf(newTokens),
                                "--repeats", String.valueOf(repeats)));
                        if (bf) {
                            args.add("--bf16-weights");
                        }
                        r = ref.runRealShapes(threads, args);
                        refMissing = BenchCommand.hugePageProblem(r);
                        r = refMissing == null ? r : null;
                    }
                    double keel = k.get("tokens_per_s").asDouble();
                    String bound = "";
                    if (b == 1) {
                        double perToken = RealShapeBench.weightBytesPerToken(config, bf);
                        bound = String.format("  %.0f%% of the bandwidth bound (%.1f tok/s: %.0f MB of weights per token)",
                                100 * keel / (bandwidth / perToken), bandwidth / perToken, perToken / 1e6);
                    }
                    out.printf("%-13s %-15s %10.1f %11s %7s %7s %10.0f %10s%s%n", shape.key,
                            "generate " + (bf ? "bf16" : "f32") + " b" + b, keel,
                            r == null ? "-" : String.format("%.1f", r.get("tokens_per_s").asDouble()),
                            r == null ? "n/a" : String.format("%.2f", keel / r.get("tokens_per_s").asDouble()), "",
                            k.get("peak_rss_mb").asDouble(), r == null ? "-" : String.format("%.0f", r.get("peak_rss_mb").asDouble()),
                            bound);
                    out.flush();
                }
            }
            dev.keel.runtime.Proc.deleteTree(mdir);
        }
        return refMissing;
    }

    /** One case in a fresh JVM ({@code keel bench --real-case}); its JSON line. */
    private static JsonNode child(String realCase, Path mdir, int repeats) throws Exception {
        return new ObjectMapper().readTree(BenchMemory.child("the real-shape case " + realCase,
                ProcessBuilder.Redirect.INHERIT, "--real-case", realCase, "--model-dir", mdir.toString(), "--repeats",
                String.valueOf(repeats)));
    }

    /** The child side of {@link #child}: one case in this process, printed as one JSON line. */
    static Integer runChild(PrintWriter out, String realCase, Path modelDir, int repeats) {
        Main.startNatives();
        String[] parts = realCase.split(":", 2);
        RealShapeBench.Result r;
        if (parts[1].startsWith("gen-")) {
            String[] g = parts[1].split("-");       // gen, f32|bf16, batch, new tokens
            r = RealShapeBench.generate(modelDir, g[1].equals("bf16"), Integer.parseInt(g[2]), Integer.parseInt(g[3]),
                    repeats);
        } else {
            r = RealShapeBench.dpo(modelDir, RealShapeBench.Mode.parse(parts[1]), repeats);
        }
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("seconds", r.seconds());
        o.put("tokens_per_s", r.tokensPerSecond());
        o.put("flops", r.flops());
        o.put("peak_rss_mb", r.peakRssMb());
        out.println(o);
        out.flush();
        return 0;
    }
}
