package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.bench.GenerateBench;
import dev.keel.bench.TrainBench;
import dev.keel.bench.TorchReference;
import dev.keel.model.CausalLM;
import dev.keel.runtime.Natives;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmarks Keel against the same work in PyTorch eager (scripts/bench/torch_reference.py, "
                + "run with Debian's python3-torch), one after the other, same threads, and prints the ratio "
                + "(Keel / PyTorch, higher is better for Keel).",
                "Cases: generate (KV-cache generation, batch 1 and 16, 64 new tokens, tiny Llama shape); sft and dpo "
                + "(one train step: forward, loss, backward, AdamW; GPT-2 architecture at the tiny shape, 4 layers, "
                + "d=256, vocab 4,096, seq 128, batch 16, and the GPT-2-small shape, 12 layers, d=768, vocab 50,257, "
                + "seq 128, batch 4), with model FLOPs utilisation against this machine's measured matmul peak.",
                "No ratio is printed against a PyTorch that runs on the reference BLAS: install "
                + "libopenblas0-pthread."})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", defaultValue = "generate,sft,dpo", split = ",", description = "Cases to run: generate, sft, dpo (default: all).")
    List<String> cases;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed runs per case; the median counts. Default: ${DEFAULT-VALUE}.")
    int repeats;

    @Option(names = "--new-tokens", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int newTokens;

    @Option(names = "--batches", split = ",", defaultValue = "1,16,64", description = "Generation batch sizes. Default: ${DEFAULT-VALUE}.")
    List<Integer> batches;

    @Option(names = "--python", defaultValue = "/usr/bin/python3",
            description = "Python with PyTorch for the reference (Debian's, not a pyenv one). Default: ${DEFAULT-VALUE}.")
    String python;

    @Option(names = "--no-reference", description = "Measure Keel only.")
    boolean noReference;

    @Option(names = "--shapes", split = ",", defaultValue = "tiny,gpt2-small",
            description = "Shapes of the sft and dpo cases. Default: ${DEFAULT-VALUE}.")
    List<String> shapes;

    /** Null when the reference's BLAS is OpenBLAS, else why no ratio can be printed. */
    private static String blasProblem(JsonNode r) {
        return r.path("blas").asText().equals("openblas") ? null : "PyTorch runs on " + r.path("blas").asText()
                + " BLAS, not OpenBLAS (apt-get install libopenblas0-pthread); no ratio printed";
    }

    private String generate(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir) throws Exception {
        CausalLM model = GenerateBench.writeModel(dir);
        out.printf("generate: Llama shape %d layers, d=%d, %d heads, vocab %d, prompt %d, %d new tokens, greedy, "
                        + "%d threads%n", GenerateBench.LAYERS, GenerateBench.DIM, GenerateBench.HEADS,
                GenerateBench.VOCAB, GenerateBench.PROMPT_LEN, newTokens, threads);
        out.printf("%-8s %14s %14s %8s%n", "batch", "keel tok/s", "torch tok/s", "ratio");
        for (int b : batches) {
            GenerateBench.Result k = GenerateBench.run(model, b, newTokens, repeats);
            String torchCol = "-";
            String ratio = refMissing == null ? "-" : "n/a";
            if (refMissing == null) {
                JsonNode r = ref.run(threads, List.of("--case", "generate", "--model", dir.toString(),
                        "--batch", String.valueOf(b), "--prompt-len", String.valueOf(GenerateBench.PROMPT_LEN),
                        "--new-tokens", String.valueOf(newTokens), "--repeats", String.valueOf(repeats)));
                refMissing = blasProblem(r);
                if (refMissing == null) {
                    double t = r.get("tokens_per_s").asDouble();
                    torchCol = String.format("%.1f", t);
                    ratio = String.format("%.2f", k.tokensPerSecond() / t);
                }
            }
            out.printf("%-8d %14.1f %14s %8s%n", b, k.tokensPerSecond(), torchCol, ratio);
            out.flush();
        }
        return refMissing;
    }

    @Override
    public Integer call() throws Exception {
        for (String c : cases) {
            if (!List.of("generate", "sft", "dpo").contains(c)) {
                throw new IllegalArgumentException("unknown bench case '" + c + "' (cases: generate, sft, dpo)");
            }
        }
        if (repeats < 1) {
            throw new IllegalArgumentException("--repeats must be at least 1");
        }
        Main.startNatives();
        int threads = Natives.threadCount();
        PrintWriter out = spec.commandLine().getOut();
        TorchReference ref = new TorchReference(python);
        String refMissing = noReference ? "--no-reference" : ref.unavailableReason();
        Path dir = Files.createTempDirectory("keel-bench");
        try {
            if (cases.contains("generate")) {
                refMissing = generate(out, ref, refMissing, threads, dir.resolve("generate"));
            }
            List<String> train = cases.stream().filter(c -> !c.equals("generate")).toList();
            if (!train.isEmpty()) {
                double peak = TrainBench.matmulPeak();
                out.printf("%nmatmul peak (768x768x3072, float32, %d threads): %.1f GFLOP/s%n", threads, peak / 1e9);
                out.printf("%-6s %-11s %12s %12s %8s %8s%n", "case", "shape", "keel tok/s", "torch tok/s", "ratio", "MFU");
                for (String shapeName : shapes) {
                    TrainBench.Shape shape = switch (shapeName) {
                        case "tiny" -> TrainBench.TINY;
                        case "gpt2-small" -> TrainBench.GPT2_SMALL;
                        default -> throw new IllegalArgumentException("unknown shape " + shapeName + " (tiny, gpt2-small)");
                    };
                    Path mdir = dir.resolve(shapeName);
                    Files.createDirectories(mdir);
                    for (String c : train) {
                        CausalLM m = TrainBench.writeModel(shape, mdir);
                        TrainBench.Result k = c.equals("sft") ? TrainBench.sft(m, shape, repeats, peak)
                                : TrainBench.dpo(m, shape, repeats, peak);
                        m = null;
                        System.gc();
                        String torchCol = "-";
                        String ratio = refMissing == null ? "-" : "n/a";
                        if (refMissing == null) {
                            JsonNode r = ref.run(threads, List.of("--case", c, "--model", mdir.toString(),
                                    "--batch", String.valueOf(shape.batch()), "--seq", String.valueOf(shape.seq()),
                                    "--repeats", String.valueOf(repeats)));
                            refMissing = blasProblem(r);
                            if (refMissing == null) {
                                torchCol = String.format("%.0f", r.get("tokens_per_s").asDouble());
                                ratio = String.format("%.2f", k.tokensPerSecond() / r.get("tokens_per_s").asDouble());
                            }
                        }
                        out.printf("%-6s %-11s %12.0f %12s %8s %7.1f%%%n", c, shapeName, k.tokensPerSecond(), torchCol,
                                ratio, 100 * k.mfu());
                        out.flush();
                    }
                }
            }
            out.printf("peak RSS (keel process): %.0f MB%n", dev.keel.runtime.Proc.peakRssMb());
            if (refMissing != null) {
                out.println("reference: " + refMissing);
            }
        } finally {
            dev.keel.runtime.Proc.deleteTree(dir);
        }
        return 0;
    }
}
