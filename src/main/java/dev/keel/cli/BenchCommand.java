package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.bench.GenerateBench;
import dev.keel.bench.PpoBench;
import dev.keel.bench.RealShapeBench;
import dev.keel.bench.TrainBench;
import dev.keel.bench.TorchReference;
import dev.keel.model.CausalLM;
import dev.keel.runtime.Natives;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmarks Keel against the same work in PyTorch eager (scripts/bench/torch_reference.py, "
                + "run with Debian's python3-torch), same threads, and prints the ratio "
                + "(Keel / PyTorch, higher is better for Keel).",
                "Cases: generate (KV-cache generation, batch 1, 16 and 64, 64 new tokens, tiny Llama shape); sft and dpo "
                + "(one train step: forward, loss, backward, AdamW; GPT-2 architecture at the tiny shape, 4 layers, "
                + "d=256, vocab 4,096, seq 128, batch 16, and the GPT-2-small shape, 12 layers, d=768, vocab 50,257, "
                + "seq 128, batch 4), with model FLOPs utilisation against this machine's measured matmul peak and the "
                + "memory each step adds (DPO's compared with SFT on the same token rows); ppo (one PPO iteration "
                + "at the tiny shape with the embedded model: 16 prompts of 8 tokens, 64 sampled tokens, 4 epochs of "
                + "minibatches of 8, split into rollout, scoring and update, timed after two untimed iterations); dp (data-parallel SFT steps at the "
                + "sft case's shapes and global batch: 2 ranks x 1 thread against 1 rank x 2 threads, each rank a "
                + "JVM on Gloo over 127.0.0.1; tokens/s and the share of a step spent in the gradient all-reduce; "
                + "no PyTorch reference). Not run by default: real (a DPO step "
                + "of 2 pairs x 256 tokens at the shapes of SmolLM2-135M, Qwen2.5-0.5B and -1.5B from their published "
                + "config.json with random weights, full or LoRA, float32 or --bf16, with or without gradient "
                + "checkpointing, each in a fresh process with its peak memory; and greedy decoding at batch 1 and 16 in "
                + "float32 and bfloat16 weights, with batch 1's decoding after the first token against the "
                + "memory-bandwidth bound; tens of minutes) and dp.",
                "No ratio is printed against a PyTorch that runs on the reference BLAS (install "
                + "libopenblas0-pthread) or on another OpenBLAS kernel family than Keel's (both are printed), nor when "
                + "Keel's large tensors are in transparent huge pages (THP_MEM_ALLOC_ENABLE=1, which ./keel leaves "
                + "unset for the bench) and PyTorch's are not.",
                "The first line says which OpenBLAS Keel ran on: the system's, which the launcher preloads when "
                + "one (0.3.21 or later) is installed, or the one bundled in the jars (KEEL_BLAS=bundled; README, "
                + "\"Threads and memory\")."})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", defaultValue = "generate,sft,dpo,ppo", split = ",", description = "Cases to run: generate, sft, dpo, ppo, dp (default: all but dp).")
    List<String> cases;

    @Option(names = "--repeats", defaultValue = "3",
            description = "Timed runs per case: the median counts for train steps and PPO, the fastest for "
                    + "generation (see --rounds). Default: ${DEFAULT-VALUE}.")
    int repeats;

    @Option(names = "--warmup", defaultValue = "3",
            description = "Untimed generation runs before the timed ones, on both sides. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--rounds", defaultValue = "3",
            description = "Generation, train steps, ppo and real: Keel and PyTorch take turns this many times; each side's "
                    + "fastest round counts (for ppo, each phase's and the whole iteration's fastest round; the "
                    + "machine's speed drifts over minutes). "
                    + "Default: ${DEFAULT-VALUE}.")
    int rounds;

    @Option(names = "--new-tokens", defaultValue = "64",
            description = "Tokens generated per sequence in the generate and ppo cases. Default: ${DEFAULT-VALUE}.")
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

    @Option(names = "--reference-setup", defaultValue = "keel",
            description = "How the PyTorch reference runs: keel (an equal footing: the allocator ./keel preloads for "
                    + "Keel, tcmalloc when installed, on both sides) or debian (PyTorch as Debian ships it, on glibc's "
                    + "malloc; a weaker set-up, for a second line only). Both sides see the same OPENBLAS_CORETYPE "
                    + "and thread settings. Default: ${DEFAULT-VALUE}.")
    String referenceSetup;

    @Option(names = "--real-shapes", split = ",", defaultValue = "smollm2-135m,qwen2.5-0.5b",
            description = "Shapes of the real case: smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b (published config.json, "
                    + "random weights). Default: ${DEFAULT-VALUE}.")
    List<String> realShapes;

    @Option(names = "--real-modes", split = ",",
            defaultValue = "full,lora,lora-bf16,full+ckpt,lora+ckpt,lora-bf16+ckpt,generate",
            description = "Cases of the real case: DPO steps in modes full, full-bf16, lora, lora-bf16, each optionally "
                    + "+ckpt (gradient checkpointing); generate: decoding at batch 1 and 16, float32 and bfloat16 "
                    + "weights (batch 1 also timed after its first token, against the bandwidth bound; the run ends "
                    + "with each batch-1 share against its highest measured bandwidth). "
                    + "Default: ${DEFAULT-VALUE}.")
    List<String> realModes;

    @Option(names = "--real-case", hidden = true, description = "Internal: one real-shape case in this fresh process.")
    String realCase;

    @Option(names = "--memory-of", hidden = true, description = "Internal: measure one train case's memory in this fresh process.")
    String memoryOf;

    @Option(names = "--dp-rank-of", hidden = true, description = "Internal: one rank of the dp case at this shape.")
    String dpRankOf;

    @Option(names = "--ppo-child", hidden = true, description = "Internal: the ppo case's Keel side in this fresh process.")
    boolean ppoChild;

    @Option(names = "--model-dir", hidden = true, description = "Internal: the model of --memory-of.")
    Path modelDir;

    /**
     * Gives the memory this process freed back to the system, when it runs on tcmalloc (which keeps it): after the
     * GPT-2-small cases this process held 5-10 GB, and the ppo case's fresh JVM then ran 20-30% slower than alone;
     * after writing a real shape's random model, 5 GB beside a case that needs 14.
     */
    static void releaseFreeMemory() {
        try {
            com.sun.jna.NativeLibrary.getProcess().getFunction("MallocExtension_ReleaseFreeMemory").invokeVoid(new Object[0]);
        } catch (UnsatisfiedLinkError e) {
            // not on tcmalloc: glibc's malloc returns large blocks itself
        }
    }

    private static double total(JsonNode ppo) {
        return ppo.get("rollout_s").asDouble() + ppo.get("scoring_s").asDouble() + ppo.get("update_s").asDouble();
    }

    /** Peak resident size of the ppo case's fresh process, 0 when it did not run. */
    private double ppoPeakRssMb;

    /** What the reference reported about itself on its first run (torch version, malloc, OpenBLAS kernels). */
    private String referenceSelf;

    private JsonNode runReference(TorchReference ref, int threads, List<String> args) throws Exception {
        JsonNode r = ref.run(threads, args);
        if (referenceSelf == null) {
            referenceSelf = String.format(java.util.Locale.ROOT, "PyTorch %s, malloc %s, OpenBLAS kernels %s, %.0f MB in "
                    + "huge pages", r.path("torch").asText(), r.path("malloc").asText(), r.path("openblas_core").asText(),
                    r.path("huge_pages_mb").asDouble(0));
        }
        return r;
    }

    /** Why no ratio can be printed against this reference run (its BLAS, or its huge pages), or null. */
    private String referenceProblem(JsonNode r) {
        String p = blasProblem(r, keelCore);
        return p != null ? p : hugePageProblem(r);
    }

    /** {@link #hugePageProblem(JsonNode, boolean)} for this process's huge pages. */
    static String hugePageProblem(JsonNode r) {
        return hugePageProblem(r, Natives.hugePagesInEffect());
    }

    /**
     * The share of its peak resident memory a reference process must hold in huge pages to count as having them:
     * given them (a scratch shim doing what libtorch 2.x does) PyTorch held 70% of a Qwen2.5-0.5B-shape DPO step's
     * peak in them; asking for none, 0-10% (the kernel's doing, in its heap).
     */
    static final double HUGE_PAGES_SHARE = 0.25;

    /**
     * Null unless Keel's large tensors are in transparent huge pages and the reference's are not; then why no ratio
     * can be printed: huge pages take most of the page faults out of a step (a Qwen2.5-0.5B-shape DPO step ran 6-21%
     * faster in PyTorch with them and 5-38% in Keel), so a ratio with them on Keel's side only measures the setting.
     * Keel's follow from THP_MEM_ALLOC_ENABLE and the kernel's setting; the reference's are measured (its
     * {@code huge_pages_mb} at exit, against {@link #HUGE_PAGES_SHARE} of its peak). Not the other way round:
     * Debian's PyTorch, asking for none, held 300 MB of its GPT-2-small train step's heap in huge pages anyway (the
     * kernel's doing), and Keel's heap is not measured.
     */
    static String hugePageProblem(JsonNode r, boolean keelHuge) {
        double theirs = r.path("huge_pages_mb").asDouble(0);
        if (keelHuge && !(theirs > 0 && theirs >= HUGE_PAGES_SHARE * r.path("peak_rss_mb").asDouble(0))) {
            return String.format(java.util.Locale.ROOT, "huge pages differ (Keel's large tensors are in transparent huge "
                    + "pages, THP_MEM_ALLOC_ENABLE=1; PyTorch's process had next to none, %.0f MB of a %.0f MB peak: "
                    + "PyTorch before 2.x never asks for them); no ratio printed: run the bench with "
                    + "THP_MEM_ALLOC_ENABLE=0, or with a PyTorch that reads it", theirs, r.path("peak_rss_mb").asDouble(0));
        }
        return null;
    }

    /** The OpenBLAS kernel family Keel runs (set once natives are loaded). */
    private String keelCore;

    /**
     * Null when the reference runs on OpenBLAS with the kernel family Keel runs, else why no ratio can be printed:
     * a ratio between two kernel families (e.g. Haswell's AVX2 against SkylakeX's AVX-512) measures OpenBLAS, not
     * Keel.
     */
    static String blasProblem(JsonNode r, String keelCore) {
        if (!r.path("blas").asText().equals("openblas")) {
            return "PyTorch runs on " + r.path("blas").asText()
                    + " BLAS, not OpenBLAS (apt-get install libopenblas0-pthread); no ratio printed";
        }
        String theirs = r.path("openblas_core").asText();
        if (!theirs.equalsIgnoreCase(keelCore)) {
            return "OpenBLAS kernels differ (Keel " + keelCore + ", PyTorch " + theirs
                    + "); no ratio printed: set OPENBLAS_CORETYPE for both sides";
        }
        return null;
    }

    private String generate(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir) throws Exception {
        CausalLM model = GenerateBench.writeModel(dir);
        out.printf("generate: Llama shape %d layers, d=%d, %d heads, vocab %d, prompt %d, %d new tokens, greedy, "
                        + "%d threads%n", GenerateBench.LAYERS, GenerateBench.DIM, GenerateBench.HEADS,
                GenerateBench.VOCAB, GenerateBench.PROMPT_LEN, newTokens, threads);
        out.printf("%-8s %14s %14s %8s%n", "batch", "keel tok/s", "torch tok/s", "ratio");
        for (int b : batches) {
            // Keel and PyTorch take turns, --rounds times, and each side's fastest run counts: on a shared
            // machine the speed drifts by tens of percent over a minute, and turns expose both sides to it
            double keel = 0;
            double torchBest = 0;
            for (int round = 0; round < rounds; round++) {
                keel = Math.max(keel, GenerateBench.run(model, b, newTokens, repeats, warmup).tokensPerSecond());
                if (refMissing == null) {
                    JsonNode r = runReference(ref, threads, List.of("--case", "generate", "--model", dir.toString(),
                            "--batch", String.valueOf(b), "--prompt-len", String.valueOf(GenerateBench.PROMPT_LEN),
                            "--new-tokens", String.valueOf(newTokens), "--repeats", String.valueOf(repeats),
                            "--warmup", String.valueOf(warmup)));
                    refMissing = referenceProblem(r);
                    torchBest = Math.max(torchBest, r.path("tokens_per_s").asDouble());
                }
            }
            String torchCol = "-";
            String ratio = refMissing == null ? "-" : "n/a";
            if (refMissing == null) {
                torchCol = String.format("%.1f", torchBest);
                ratio = String.format("%.2f", keel / torchBest);
            }
            out.printf("%-8d %14.1f %14s %8s%n", b, keel, torchCol, ratio);
            out.flush();
        }
        return refMissing;
    }

    private String train(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir,
                         List<String> train) throws Exception {
        // the machine's speed drifts (it is shared): the peak is measured again before every case and the highest
        // value seen counts, so a case timed in a fast moment is not compared with a peak from a slow one
        double peak = TrainBench.matmulPeak();
        out.printf("%nmatmul peak (768x768x3072, float32, %d threads, fastest of 20): %.1f GFLOP/s at the start%n",
                threads, peak / 1e9);
        out.printf("%-6s %-11s %12s %12s %8s %8s %10s%n", "case", "shape", "keel tok/s", "torch tok/s", "ratio", "MFU",
                "keel +MB");
        List<String> labels = new java.util.ArrayList<>();
        List<TrainBench.Result> results = new java.util.ArrayList<>();
        for (String shapeName : shapes) {
            TrainBench.Shape shape = BenchMemory.shape(shapeName);
            Path mdir = dir.resolve(shapeName);
            Files.createDirectories(mdir);
            for (String c : train) {
                // as generation: Keel and PyTorch take turns, --rounds times, and each side's fastest round counts
                TrainBench.Result k = null;
                double torchBest = 0;
                for (int round = 0; round < rounds; round++) {
                    peak = Math.max(peak, TrainBench.matmulPeak());
                    TrainBench.Result kr = step(shape, mdir, c.equals("sft") ? TrainBench::sft : TrainBench::dpo, peak);
                    k = k == null || kr.tokensPerSecond() > k.tokensPerSecond() ? kr : k;
                    if (refMissing == null) {
                        JsonNode r = runReference(ref, threads, List.of("--case", c, "--model", mdir.toString(),
                                "--batch", String.valueOf(shape.batch()), "--seq", String.valueOf(shape.seq()),
                                "--repeats", String.valueOf(repeats)));
                        refMissing = referenceProblem(r);
                        torchBest = Math.max(torchBest, r.path("tokens_per_s").asDouble());
                    }
                }
                peak = Math.max(peak, TrainBench.matmulPeak());
                k = k.withPeak(peak);
                labels.add(c + " " + shapeName);
                results.add(k);
                double mem = BenchMemory.probe(c, shapeName, mdir);
                String torchCol = "-";
                String ratio = refMissing == null ? "-" : "n/a";
                if (refMissing == null) {
                    torchCol = String.format("%.0f", torchBest);
                    ratio = String.format("%.2f", k.tokensPerSecond() / torchBest);
                }
                out.printf("%-6s %-11s %12.0f %12s %8s %7.1f%% %10.0f%n", c, shapeName, k.tokensPerSecond(), torchCol,
                        ratio, 100 * k.mfu(), mem);
                if (c.equals("dpo")) {
                    // the memory goal compares DPO with SFT on the same token rows
                    double base = BenchMemory.probe("sft-dpo-rows", shapeName, mdir);
                    out.printf("       %-11s DPO memory / SFT on the same %d rows (%.0f MB): %.2f%n", shapeName,
                            2 * shape.batch(), base, mem / base);
                }
                out.flush();
            }
        }
        StringBuilder mfu = new StringBuilder();
        for (int i = 0; i < results.size(); i++) {
            mfu.append(i == 0 ? "" : ", ").append(String.format("%s %.1f%%", labels.get(i),
                    100 * results.get(i).withPeak(peak).mfu()));
        }
        out.printf("matmul peak, highest seen around the cases: %.1f GFLOP/s; MFU against it: %s%n", peak / 1e9, mfu);
        return refMissing;
    }

    private TrainBench.Result step(TrainBench.Shape shape, Path mdir, BenchMemory.StepCase c, double peak) throws Exception {
        CausalLM m = TrainBench.writeModel(shape, mdir);
        try {
            return c.run(m, shape, repeats, peak);
        } finally {
            m.release();
        }
    }

    private String ppo(PrintWriter out, TorchReference ref, String refMissing, int threads, Path dir) throws Exception {
        PpoBench.prepare(dir);
        releaseFreeMemory();
        out.printf("%nppo: one iteration, tiny shape (embedded model), %d prompts of %d tokens, %d sampled tokens, "
                        + "%d epochs of minibatches of %d, policy + reference + value + reward model, %d threads%n",
                PpoBench.BATCH, PpoBench.PROMPT_LEN, newTokens, PpoBench.EPOCHS, PpoBench.MINI_BATCH, threads);
        // Keel in a fresh JVM, as the reference runs each case in a fresh Python; the two take turns, --rounds
        // times, and for each row (a phase, or the whole iteration) each side's fastest round counts, as for
        // generation: the phases are separate measurements, so one noisy phase does not pick the others' round
        List<JsonNode> keelRounds = new ArrayList<>();
        List<JsonNode> refRounds = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            keelRounds.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(BenchMemory.child("the ppo case",
                    ProcessBuilder.Redirect.INHERIT, "--ppo-child", "--model-dir", dir.toString(), "--new-tokens",
                    String.valueOf(newTokens), "--repeats", String.valueOf(repeats))));
            if (refMissing == null) {
                JsonNode rr = runReference(ref, threads, List.of("--case", "ppo", "--model", dir.resolve("policy").toString(),
                        "--reward-model", dir.resolve("reward").toString(), "--prompts", dir.resolve("prompts.json").toString(),
                        "--new-tokens", String.valueOf(newTokens), "--mini-batch", String.valueOf(PpoBench.MINI_BATCH),
                        "--ppo-epochs", String.valueOf(PpoBench.EPOCHS), "--temperature", String.valueOf(PpoBench.TEMPERATURE),
                        "--kl-coef", String.valueOf(PpoBench.KL_COEF), "--lr", String.valueOf(PpoBench.LR),
                        "--warmup", String.valueOf(PpoBench.WARMUP), "--repeats", String.valueOf(repeats)));
                refMissing = referenceProblem(rr);
                refRounds.add(rr);
            }
        }
        out.printf("%-10s %10s %10s %8s%n", "phase", "keel s", "torch s", "ratio");
        ppoPeakRssMb = keelRounds.stream().mapToDouble(j -> j.get("peak_rss_mb").asDouble()).max().orElse(0);
        String[][] rows = {{"rollout", "rollout_s"}, {"scoring", "scoring_s"}, {"update", "update_s"}, {"total", "seconds"}};
        for (String[] row : rows) {
            double mine = keelRounds.stream().mapToDouble(j -> row[1].equals("seconds") ? total(j) : j.get(row[1]).asDouble())
                    .min().orElseThrow();
            String torchCol = "-";
            String ratio = refMissing == null ? "-" : "n/a";
            if (refMissing == null) {
                double t = refRounds.stream().mapToDouble(j -> j.get(row[1]).asDouble()).min().orElseThrow();
                torchCol = String.format("%.3f", t);
                ratio = String.format("%.2f", t / mine);
            }
            out.printf("%-10s %10.3f %10s %8s%n", row[0], mine, torchCol, ratio);
        }
        out.flush();
        return refMissing;
    }

    @Override
    public Integer call() throws Exception {
        if (memoryOf != null) {
            return BenchMemory.child(spec.commandLine().getOut(), memoryOf, shapes.get(0), modelDir);
        }
        if (dpRankOf != null) {
            return BenchDp.child(spec.commandLine().getOut(), dpRankOf, modelDir, repeats);
        }
        if (ppoChild) {
            Main.startNatives();
            PpoBench.Result k = PpoBench.run(modelDir, newTokens, repeats);
            spec.commandLine().getOut().printf(java.util.Locale.ROOT,
                    "{\"rollout_s\": %s, \"scoring_s\": %s, \"update_s\": %s, \"peak_rss_mb\": %s}%n",
                    k.rollout(), k.scoring(), k.update(), dev.keel.runtime.Proc.peakRssMb());
            spec.commandLine().getOut().flush();
            return 0;
        }
        if (realCase != null) {
            return BenchReal.runChild(spec.commandLine().getOut(), realCase, modelDir, repeats);
        }
        if (!List.of("debian", "keel").contains(referenceSetup)) {
            throw new IllegalArgumentException("--reference-setup must be debian or keel, got " + referenceSetup);
        }
        for (String c : cases) {
            if (!List.of("generate", "sft", "dpo", "ppo", "real", "dp").contains(c)) {
                throw new IllegalArgumentException("unknown bench case '" + c + "' (cases: generate, sft, dpo, ppo, real, dp)");
            }
        }
        if (repeats < 1 || rounds < 1) {
            throw new IllegalArgumentException("--repeats and --rounds must be at least 1");
        }
        for (String m : realModes) {
            try {
                if (!m.equals(BenchReal.GENERATE)) {
                    RealShapeBench.Mode.parse(m);   // an unknown entry fails here, before any case runs
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--real-modes: " + e.getMessage() + ", or generate");
            }
        }
        Main.startNatives();
        int threads = Natives.threadCount();
        PrintWriter out = spec.commandLine().getOut();
        boolean same = referenceSetup.equals("keel");
        TorchReference ref = new TorchReference(python, same);
        String refMissing = noReference ? "--no-reference" : ref.unavailableReason();
        Path lib = dev.keel.runtime.Proc.openblasFile(dev.keel.runtime.Proc.mappedFiles());
        keelCore = refMissing != null || lib == null ? "unknown" : ref.coreName(threads, lib);
        out.printf("keel: %s; OpenBLAS kernels in use: %s; batch-1 decoding products: %s; reference setup: %s%n",
                Natives.summary(), keelCore, dev.keel.model.CausalLM.rowKernels(), referenceSetup);
        Path dir = Files.createTempDirectory("keel-bench");
        try {
            if (cases.contains("generate")) {
                refMissing = generate(out, ref, refMissing, threads, dir.resolve("generate"));
            }
            List<String> train = cases.stream().filter(c -> c.equals("sft") || c.equals("dpo")).toList();
            if (!train.isEmpty()) {
                refMissing = train(out, ref, refMissing, threads, dir, train);
            }
            if (cases.contains("ppo")) {
                refMissing = ppo(out, ref, refMissing, threads, dir.resolve("ppo"));
            }
            if (cases.contains("dp")) {
                BenchDp.run(out, shapes, dir, repeats);
            }
            if (cases.contains("real")) {
                refMissing = BenchReal.run(out, ref, refMissing, threads, dir.resolve("real"), realShapes, realModes,
                        List.of(1, 16), 32, repeats, rounds);
            }
            out.printf("peak RSS (keel process): %.0f MB%s%n", dev.keel.runtime.Proc.peakRssMb(),
                    ppoPeakRssMb > 0 ? String.format("; of the ppo case's own process: %.0f MB", ppoPeakRssMb) : "");
            if (referenceSelf != null) {
                out.println("reference ran on: " + referenceSelf);
            }
            if (refMissing != null) {
                out.println("reference: " + refMissing);
            }
        } finally {
            dev.keel.runtime.Proc.deleteTree(dir);
        }
        return 0;
    }
}
