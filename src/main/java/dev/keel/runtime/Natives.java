package dev.keel.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;

import org.bytedeco.javacpp.Loader;

/**
 * Start-up of the native libraries: extraction of every libtorch, OpenBLAS and JavaCPP library before any
 * of them loads, and the thread settings.
 *
 * <p>Why extract everything first: JavaCPP extracts natives lazily, one at a time. Where a system libtorch
 * sits on the library path (Debian's {@code libtorch-dev}, pulled in by {@code python3-torch}), the dynamic
 * linker resolves a not-yet-extracted dependency to the system's copy and the JVM dies with SIGSEGV on the
 * first run with an empty cache. Caching the whole resource folders up front closes that gap.
 *
 * <p>Threads: libtorch's intra-op pool defaults to all cores and spins while idle; on shared cores that makes
 * steps up to 100x slower. {@link #init()} sets an explicit count ({@code KEEL_THREADS}, else
 * {@code OMP_NUM_THREADS}, else the number of available processors). {@code OMP_WAIT_POLICY=PASSIVE} must be
 * set in the environment before the JVM starts (the {@code keel} launcher does that).
 */
public final class Natives {
    private static volatile boolean initialised;

    private Natives() {}

    /** Idempotent; call before the first use of any {@code org.bytedeco.pytorch} class. */
    public static synchronized void init() {
        if (initialised) {
            return;
        }
        // JavaCPP reads /proc/self/statm on every native allocation to enforce maxPhysicalBytes; that costs
        // ~4 us per tensor op (measured: an add went from 6.2 to 1.7 us without it). Keel frees tensors with
        // PointerScopes, not by GC pressure, so the check buys nothing. Must be set before Pointer loads.
        if (System.getProperty("org.bytedeco.javacpp.maxPhysicalBytes") == null) {
            System.setProperty("org.bytedeco.javacpp.maxPhysicalBytes", "0");
        }
        String platform = Loader.getPlatform();
        try {
            for (String lib : new String[] {"javacpp", "openblas", "pytorch"}) {
                Loader.cacheResources("/org/bytedeco/" + lib + "/" + platform + "/");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not extract the native libraries (libtorch, OpenBLAS) into the "
                    + "JavaCPP cache; check that the cache folder is writable (org.bytedeco.javacpp.cachedir)", e);
        }
        int threads = threadCount();
        org.bytedeco.pytorch.global.torch.set_num_threads(threads);
        initialised = true;
    }

    /**
     * The intra-op thread count Keel uses: KEEL_THREADS, else OMP_NUM_THREADS, else the available processors
     * divided among the ranks of a data-parallel run on this machine ({@code LOCAL_WORLD_SIZE}).
     */
    public static int threadCount() {
        for (String name : new String[] {"KEEL_THREADS", "OMP_NUM_THREADS"}) {
            String v = System.getenv(name);
            if (v != null && !v.isBlank()) {
                try {
                    int n = Integer.parseInt(v.trim());
                    if (n > 0) {
                        return n;
                    }
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(name + " must be a positive whole number, got '" + v + "'");
                }
            }
        }
        return Math.max(1, Runtime.getRuntime().availableProcessors() / localRanks());
    }

    /** Ranks on this machine ({@code LOCAL_WORLD_SIZE}, as torchrun sets it), 1 when unset or not a number. */
    private static int localRanks() {
        try {
            return Math.max(1, Integer.parseInt(System.getenv().getOrDefault("LOCAL_WORLD_SIZE", "1").trim()));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /**
     * What the native side runs with, for a report's first line: "2 threads, malloc tcmalloc, OpenBLAS bundled,
     * kernels Haswell (OPENBLAS_CORETYPE)". Reads the environment and /proc only; loads nothing.
     */
    public static String summary() {
        String malloc = "unknown";
        String blas = "unknown";
        try {
            java.util.List<String> mapped = Proc.mappedFiles();
            malloc = Proc.mallocName(mapped);
            blas = Proc.blasName(mapped);
        } catch (IOException e) {
            // no /proc/self/maps: both stay unknown
        }
        String core = System.getenv("OPENBLAS_CORETYPE");
        return String.format("%d threads, malloc %s, OpenBLAS %s, kernels %s, %s", threadCount(), malloc, blas,
                core == null ? "chosen by OpenBLAS" : core + " (OPENBLAS_CORETYPE)", hugePages());
    }

    /** The kernel's transparent huge page setting (always, madvise or never), or "unknown" where it cannot be read. */
    static String kernelHugePages() {
        try {
            String s = java.nio.file.Files.readString(java.nio.file.Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\[(\\w+)]").matcher(s);
            return m.find() ? m.group(1) : "unknown";
        } catch (IOException | RuntimeException e) {
            return "unknown"; // no such file (not Linux, or a kernel without THP)
        }
    }

    /**
     * Whether libtorch asks for huge pages for tensors of 2 MB or more: THP_MEM_ALLOC_ENABLE=1 (c10 reads 0 and 1,
     * and ignores any other value with a warning).
     */
    static boolean hugePagesAsked() {
        return "1".equals(System.getenv("THP_MEM_ALLOC_ENABLE"));
    }

    /**
     * Whether Keel's large tensors get transparent huge pages: the kernel gives them to every process ("always"), or
     * to memory that asks ("madvise") and libtorch asks ({@link #hugePagesAsked}).
     */
    public static boolean hugePagesInEffect() {
        String kernel = kernelHugePages();
        return kernel.equals("always") || (kernel.equals("madvise") && hugePagesAsked());
    }

    static String hugePages() {
        return "huge pages " + (hugePagesAsked() ? "asked for" : "not asked for") + " (kernel THP: " + kernelHugePages()
                + ")";
    }
}
