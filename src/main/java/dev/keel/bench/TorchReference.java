package dev.keel.bench;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Runs the PyTorch eager reference ({@code scripts/bench/torch_reference.py}) with Debian's Python, with the
 * same thread count and {@code OMP_WAIT_POLICY=PASSIVE} as Keel. A benchmark reference only: Keel never
 * needs Python to run.
 */
public final class TorchReference {
    private final String python;
    private final Path script;
    private final boolean keelSetup;

    /**
     * @param keelSetup run PyTorch with the allocator the Keel launcher preloads for Keel too (tcmalloc); by
     *                  default it runs as Debian ships it, on glibc's malloc
     */
    public TorchReference(String python, boolean keelSetup) {
        this.python = python;
        this.script = locateScript();
        this.keelSetup = keelSetup;
    }

    /** Why the reference cannot run here, or null when it can. */
    public String unavailableReason() {
        if (script == null) {
            return "scripts/bench/torch_reference.py not found next to the Keel build";
        }
        if (!Files.isExecutable(Path.of(python))) {
            return python + " not found (install Debian's python3 and python3-torch)";
        }
        return null;
    }

    /** Runs one case; returns the script's JSON. */
    public JsonNode run(int threads, List<String> args) throws IOException, InterruptedException {
        return run(script, threads, args);
    }

    /** Runs one case of the real-shape reference ({@code scripts/bench/torch_real_shapes.py}); returns its JSON. */
    public JsonNode runRealShapes(int threads, List<String> args) throws IOException, InterruptedException {
        return run(script.resolveSibling("torch_real_shapes.py"), threads, args);
    }

    private JsonNode run(Path file, int threads, List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(python, file.toString()));
        cmd.addAll(args);
        cmd.addAll(List.of("--threads", String.valueOf(threads)));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OMP_NUM_THREADS", String.valueOf(threads));
        pb.environment().put("OPENBLAS_NUM_THREADS", String.valueOf(threads));
        String preload = pb.environment().get("LD_PRELOAD");
        if (!keelSetup) {
            pb.environment().remove("THP_MEM_ALLOC_ENABLE"); // the launcher's, as its preloads below
        }
        if (!keelSetup && preload != null) {
            // the launcher's allocator (and the system OpenBLAS it preloads) are Keel's choices, not the
            // reference's: take them out again
            java.util.Set<String> keels = new java.util.HashSet<>();
            for (String name : new String[] {"KEEL_MALLOC_LIB", "KEEL_BLAS_LIB"}) {
                String lib = System.getenv(name);
                if (lib != null) {
                    keels.add(lib);
                }
            }
            String rest = java.util.Arrays.stream(preload.split(":")).filter(x -> !x.isEmpty() && !keels.contains(x))
                    .collect(java.util.stream.Collectors.joining(":"));
            if (rest.isEmpty()) {
                pb.environment().remove("LD_PRELOAD");
            } else {
                pb.environment().put("LD_PRELOAD", rest);
            }
        }
        pb.redirectErrorStream(false);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IOException("PyTorch reference failed: " + new String(err, StandardCharsets.UTF_8));
        }
        String text = new String(out, StandardCharsets.UTF_8).trim();
        String last = text.substring(text.lastIndexOf('\n') + 1);
        return new ObjectMapper().readTree(last);
    }

    /**
     * The kernel family ({@code openblas_get_corename}) the OpenBLAS library {@code lib} picks on this CPU with
     * this process's environment, which is what decides it: how the bench learns which kernels Keel's OpenBLAS
     * runs (the presets do not map that function).
     */
    public String coreName(int threads, Path lib) throws IOException, InterruptedException {
        return run(threads, List.of("--case", "corename", "--lib", lib.toString())).path("openblas_core").asText();
    }

    private static Path locateScript() {
        List<Path> roots = new ArrayList<>();
        roots.add(Path.of("").toAbsolutePath());
        try {
            Path code = Path.of(TorchReference.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            roots.add(code.getParent().getParent()); // target/keel.jar or target/classes -> repo root
        } catch (URISyntaxException | RuntimeException e) {
            // fall back to the working directory
        }
        for (Path r : roots) {
            Path s = r.resolve("scripts/bench/torch_reference.py");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        return null;
    }
}
