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

    /** The entry of {@code --real-modes} that selects the decoding cases (batch 1 and 16, float32 and bfloat16). */
    static final String GENERATE = "generate";

    /**
     * Runs every shape x DPO mode and, when {@code modes} holds {@link #GENERATE}, the decoding cases; returns why no
     * ratio was printed, or null. Keel and PyTorch take turns at each case, {@code rounds} times, and each side's
     * fastest round counts, as in the other cases of {@code keel bench}: a case of this size runs for minutes, over
     * which this shared machine's speed drifts by tens of percent; the peak resident size is the largest of Keel's
     * rounds. The matmul peaks and the read bandwidth are measured again before every case and the highest values
     * seen count (the MFU and the bandwidth bound are then never measured against a slow moment's yardstick).
     */
    static String run(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir, List<String> shapes,
                      List<String> modes, List<Integer> genBatches, int newTokens, int repeats, int rounds) throws Exception {
        Yardsticks y = new Yardsticks();
        List<Object[]> bounds = new ArrayList<>();   // {label, Keel's decoding tokens/s, bytes of weights per token}
        out.printf("%nreal shapes: DPO step of %d pairs x %d tokens (precomputed reference), LoRA r %d alpha %.0f on every "
                        + "linear layer, %d threads, %d round(s) taking turns, each side's fastest; at the start: matmul "
                        + "peak float32 %.1f, bfloat16 %.1f GFLOP/s; read bandwidth %.1f GB/s%n",
                RealShapeBench.PAIRS, RealShapeBench.SEQ, RealShapeBench.LORA_R, RealShapeBench.LORA_ALPHA, threads,
                rounds, y.f32 / 1e9, y.bf16 / 1e9, y.bandwidth / 1e9);
        out.printf("%-13s %-15s %10s %11s %7s %7s %10s %10s%n", "shape", "mode", "keel tok/s", "torch tok/s", "ratio",
                "MFU", "keel MB", "torch MB");
        out.flush();
        for (String shapeName : shapes) {
            RealShapeBench.Shape shape = RealShapeBench.Shape.of(shapeName);
            Path mdir = dir.resolve(shape.key);
            RealShapeBench.writeModel(shape, mdir);
            BenchCommand.releaseFreeMemory();    // the model written (and the peak measured): its memory back to the cases
            for (String modeName : modes) {
                if (modeName.equals(GENERATE)) {
                    continue;
                }
                RealShapeBench.Mode mode = RealShapeBench.Mode.parse(modeName);
                List<String> args = new ArrayList<>(List.of("--case", "dpo", "--model", mdir.toString(),
                        "--seq", String.valueOf(RealShapeBench.SEQ), "--pairs", String.valueOf(RealShapeBench.PAIRS),
                        "--repeats", String.valueOf(repeats)));
                args.addAll(mode.referenceArgs());
                Turns t = turns(shape.key + ":" + mode.key(), mdir, repeats, rounds, ref, refMissing, threads, args, y);
                refMissing = t.refMissing;
                double peak = mode.bf16() ? y.bf16 : y.f32;
                double mfu = t.keel.get("flops").asDouble() / t.keel.get("seconds").asDouble() / peak;
                out.printf("%-13s %-15s %10.1f %11s %7s %6.1f%% %10.0f %10s%n", shape.key, mode.key(),
                        t.keelTokensPerSecond(), t.torchColumn(), t.ratio(), 100 * mfu, t.keelPeakMb,
                        t.torch == null ? "-" : String.format("%.0f", t.torchPeakMb));
                out.flush();
            }
            ModelConfig config = shape.config();
            for (boolean bf : modes.contains(GENERATE) ? new boolean[] {false, true} : new boolean[0]) {
                for (int b : genBatches) {
                    List<String> args = new ArrayList<>(List.of("--case", "generate", "--model", mdir.toString(),
                            "--batch", String.valueOf(b), "--new-tokens", String.valueOf(newTokens),
                            "--repeats", String.valueOf(repeats)));
                    if (bf) {
                        args.add("--bf16-weights");
                    }
                    Turns t = turns(shape.key + ":gen-" + (bf ? "bf16" : "f32") + "-" + b + "-" + newTokens, mdir, repeats,
                            rounds, ref, refMissing, threads, args, y);
                    refMissing = t.refMissing;
                    double keel = t.keelTokensPerSecond();
                    String bound = "";
                    if (b == 1) {
                        double perToken = RealShapeBench.weightBytesPerToken(config, bf);
                        double limit = y.bandwidth / perToken;
                        bounds.add(new Object[] {shape.key + " " + (bf ? "bf16" : "f32"), t.keelDecode(), perToken});
                        bound = String.format("  decoding %s tok/s (torch %s): %s of the bandwidth bound (%.1f tok/s: "
                                        + "%.0f MB of weights per token); with the %d-token prompt %.0f%%",
                                rate(t.keelDecode()), rate(t.torchDecode()),
                                Double.isNaN(t.keelDecode()) ? "-"
                                        : String.format("%.0f%%", 100 * boundShare(t.keelDecode(), perToken, y.bandwidth)),
                                limit, perToken / 1e6, dev.keel.bench.GenerateBench.PROMPT_LEN,
                                100 * boundShare(keel, perToken, y.bandwidth));
                    }
                    out.printf("%-13s %-15s %10.1f %11s %7s %7s %10.0f %10s%s%n", shape.key,
                            "generate " + (bf ? "bf16" : "f32") + " b" + b, keel, t.torchColumn(), t.ratio(), "",
                            t.keelPeakMb, t.torch == null ? "-" : String.format("%.0f", t.torchPeakMb), bound);
                    out.flush();
                }
            }
            dev.keel.runtime.Proc.deleteTree(mdir);
        }
        out.printf("yardsticks, highest seen: matmul peak float32 %.1f, bfloat16 %.1f GFLOP/s; read bandwidth %.1f GB/s%n",
                y.f32 / 1e9, y.bf16 / 1e9, y.bandwidth / 1e9);
        if (!bounds.isEmpty()) {
            // each line above set decoding against the highest bandwidth seen by then; a case that ran in a slow
            // minute early in the run met a lower yardstick than the run's
            List<String> shares = new ArrayList<>();
            for (Object[] b : bounds) {
                double share = boundShare((double) b[1], (double) b[2], y.bandwidth);
                shares.add(b[0] + " " + (Double.isNaN(share) ? "-" : String.format("%.0f%%", 100 * share)));
            }
            out.printf("batch-1 decoding against the run's highest read bandwidth (%.1f GB/s): %s%n", y.bandwidth / 1e9,
                    String.join(", ", shares));
        }
        return refMissing;
    }

    /**
     * The share of the memory-bandwidth bound a decoding rate reaches: tokens/s over (bandwidth / bytes of weights read
     * per token), the bound when every token reads every weight once at that bandwidth; NaN without a rate.
     */
    static double boundShare(double tokensPerSecond, double bytesPerToken, double bandwidth) {
        return tokensPerSecond / (bandwidth / bytesPerToken);
    }

    private static String rate(double tokensPerSecond) {
        return Double.isNaN(tokensPerSecond) ? "-" : String.format("%.1f", tokensPerSecond);
    }

    /** The machine's matmul peaks and read bandwidth, the highest measured so far. */
    private static final class Yardsticks {
        double f32;
        double bf16;
        double bandwidth;

        Yardsticks() {
            measure();
        }

        void measure() {
            f32 = Math.max(f32, RealShapeBench.matmulPeak(ScalarType.Float));
            bf16 = Math.max(bf16, RealShapeBench.matmulPeak(ScalarType.BFloat16));
            bandwidth = Math.max(bandwidth, RealShapeBench.readBandwidth());
        }
    }

    /** One case's turns: Keel's fastest round, its largest peak, and PyTorch's fastest round (null without one). */
    private record Turns(JsonNode keel, double keelPeakMb, JsonNode torch, double torchPeakMb, String refMissing) {
        /** Keel's decoding rate in its fastest round's fastest run (NaN without one). */
        double keelDecode() {
            return decode(keel);
        }

        /** PyTorch's, the same way (NaN without a reference). */
        double torchDecode() {
            return decode(torch);
        }

        private static double decode(JsonNode round) {
            JsonNode d = round == null ? null : round.get("decode_tokens_per_s");
            return d == null || !d.isNumber() ? Double.NaN : d.asDouble();
        }

        double keelTokensPerSecond() {
            return keel.get("tokens_per_s").asDouble();
        }

        String torchColumn() {
            return torch == null ? "-" : String.format("%.1f", torch.get("tokens_per_s").asDouble());
        }

        String ratio() {
            return torch == null ? "n/a" : String.format("%.2f", keelTokensPerSecond() / torch.get("tokens_per_s").asDouble());
        }
    }

    /** Keel's case {@code realCase} and the reference's (run with {@code args}) in turn, {@code rounds} times. */
    private static Turns turns(String realCase, Path mdir, int repeats, int rounds, TorchReference ref, String refMissing,
                               int threads, List<String> args, Yardsticks y) throws Exception {
        JsonNode keel = null;
        JsonNode torch = null;
        double keelPeak = 0;
        double torchPeak = 0;
        for (int round = 0; round < rounds; round++) {
            y.measure();
            JsonNode k = child(realCase, mdir, repeats);
            keelPeak = Math.max(keelPeak, k.get("peak_rss_mb").asDouble());
            keel = keel == null || k.get("tokens_per_s").asDouble() > keel.get("tokens_per_s").asDouble() ? k : keel;
            if (refMissing == null) {
                JsonNode r = ref.runRealShapes(threads, args);
                refMissing = BenchCommand.hugePageProblem(r);
                if (refMissing == null) {
                    torchPeak = Math.max(torchPeak, r.get("peak_rss_mb").asDouble());
                    torch = torch == null || r.get("tokens_per_s").asDouble() > torch.get("tokens_per_s").asDouble() ? r : torch;
                } else {
                    torch = null;
                }
            }
        }
        return new Turns(keel, keelPeak, torch, torchPeak, refMissing);
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
        if (!Double.isNaN(r.firstTokenSeconds())) {
            o.put("first_token_s", r.firstTokenSeconds());
            if (Double.isNaN(r.decodeTokensPerSecond())) {
                o.putNull("decode_tokens_per_s");
            } else {
                o.put("decode_tokens_per_s", r.decodeTokensPerSecond());
            }
        }
        out.println(o);
        out.flush();
        return 0;
    }
}
