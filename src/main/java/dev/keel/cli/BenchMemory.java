package dev.keel.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

import dev.keel.bench.TrainBench;
import dev.keel.model.CausalLM;

/** {@code keel bench}'s memory measurement of a train step, in a fresh JVM per case, and the shapes by name. */
final class BenchMemory {
    private BenchMemory() {}

    /**
     * Memory a train step adds, measured in a fresh JVM (with the same allocator): peak resident size over a
     * warm-up and one step, minus the resident size after loading the model. A fresh process because an
     * allocator that keeps freed memory (tcmalloc) would otherwise lend one case's memory to the next.
     */
    static double probe(String c, String shapeName, Path mdir) throws Exception {
        String line = child("the memory probe of " + c + " at " + shapeName, ProcessBuilder.Redirect.DISCARD,
                "--memory-of", c, "--shapes", shapeName, "--model-dir", mdir.toString());
        return Double.parseDouble(line.trim());
    }

    /**
     * Runs {@code keel bench ARGS} in a fresh JVM (same class path, same environment and so the same preloaded
     * allocator and OpenBLAS) and returns the last line it printed; fails naming {@code what} when it exits
     * non-zero or prints nothing.
     */
    static String child(String what, ProcessBuilder.Redirect stderr, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("-Dai.djl.offline=true");
        // as ./keel starts the JVM: without it, the child hung in JNA's `ldconfig -p` on loading a tokenizer
        cmd.add("-Djdk.lang.processReaperUseDefaultStackSize=true");
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
            cmd.add("--add-modules=jdk.incubator.vector");      // as ./keel starts the JVM: Bf16Mv's vector API
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench"));
        cmd.addAll(List.of(args));
        boolean inherit = stderr == ProcessBuilder.Redirect.INHERIT;
        Process p = new ProcessBuilder(cmd).redirectError(inherit ? ProcessBuilder.Redirect.PIPE : stderr).start();
        Thread pump = inherit ? errorsWithoutTheIncubatorWarning(p) : null;
        String text = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        if (pump != null) {
            pump.join();
        }
        if (p.waitFor() != 0 || text.isEmpty()) {
            throw new IllegalStateException(what + " failed (exit " + p.exitValue() + ")");
        }
        return text.substring(text.lastIndexOf('\n') + 1);
    }

    /**
     * Copies the child's standard error to this process's, less the JVM's line about the vector module, which this
     * process printed already (one per case would break up the bench's table).
     */
    private static Thread errorsWithoutTheIncubatorWarning(Process p) {
        Thread t = new Thread(() -> {
            try (java.io.BufferedReader r = new java.io.BufferedReader(
                    new java.io.InputStreamReader(p.getErrorStream(), java.nio.charset.StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (!line.startsWith("WARNING: Using incubator modules:")) {
                        System.err.println(line);
                    }
                }
            } catch (java.io.IOException e) {
                System.err.println("keel bench: could not read a child's error output: " + e.getMessage());
            }
        }, "keel-bench-child-stderr");
        t.setDaemon(true);
        t.start();
        return t;
    }

    static TrainBench.Shape shape(String name) {
        return switch (name) {
            case "tiny" -> TrainBench.TINY;
            case "gpt2-small" -> TrainBench.GPT2_SMALL;
            default -> throw new IllegalArgumentException("unknown shape " + name + " (tiny, gpt2-small)");
        };
    }

    /**
     * The child side of {@link #probe}: loads the model, then prints the peak resident size over a warm-up
     * and one step minus the resident size before them (NaN where the kernel cannot restart the peak count).
     */
    static Integer child(PrintWriter out, String memoryOf, String shapeName, Path modelDir) {
        Main.startNatives();
        TrainBench.Shape shape = shape(shapeName);
        CausalLM m = dev.keel.model.io.ModelFiles.load(modelDir, null, null);
        StepCase c = switch (memoryOf) {
            case "sft" -> TrainBench::sft;
            case "dpo" -> TrainBench::dpo;
            case "sft-dpo-rows" -> TrainBench::sftOnDpoRows;
            default -> throw new IllegalArgumentException("--memory-of " + memoryOf);
        };
        boolean peakKnown = dev.keel.runtime.Proc.resetPeakRss();
        double before = dev.keel.runtime.Proc.rssMb();
        c.run(m, shape, 1, 1);
        out.println(peakKnown ? dev.keel.runtime.Proc.peakRssMb() - before : Double.NaN);
        out.flush();
        return 0;
    }

    interface StepCase {
        TrainBench.Result run(CausalLM m, TrainBench.Shape s, int repeats, double peak);
    }
}
