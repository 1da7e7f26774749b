package dev.keel.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Facts about this process and small file-system chores, in one place. */
public final class Proc {
    private Proc() {}

    /** Peak resident memory of this process (VmHWM) in MB, or NaN where /proc is unavailable. */
    public static double peakRssMb() {
        return statusKb("VmHWM:") / 1024.0;
    }

    /** Resident memory of this process (VmRSS) in MB, or NaN where /proc is unavailable. */
    public static double rssMb() {
        return statusKb("VmRSS:") / 1024.0;
    }

    /**
     * Returns freed native memory to the system ({@code malloc_trim}) and restarts the peak-RSS count from the
     * current resident size (Linux {@code /proc/self/clear_refs} 5), so {@link #peakRssMb} then covers only
     * what follows. Returns false where the kernel does not offer that.
     */
    public static boolean resetPeakRss() {
        org.bytedeco.javacpp.Pointer.trimMemory();
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    /** The allocator among {@code mapped} ({@link #mappedFiles}): "tcmalloc" or "jemalloc" when preloaded, else "glibc". */
    public static String mallocName(List<String> mapped) {
        for (String file : mapped) {
            for (String name : new String[] {"tcmalloc", "jemalloc"}) {
                if (file.contains(name)) {
                    return name;
                }
            }
        }
        return "glibc";
    }

    /**
     * Which OpenBLAS libtorch runs on, from {@code mapped} ({@link #mappedFiles}): "bundled" (the copy in the
     * PyTorch presets' jars, extracted to the JavaCPP cache), or "system" and the file when a libopenblas from
     * outside that cache is mapped too: the launcher preloads the system's when one is installed (unless
     * {@code KEEL_BLAS=bundled}), and the dynamic linker then resolves libtorch's BLAS calls to it before the
     * bundled copy.
     */
    public static String blasName(List<String> mapped) {
        for (String file : mapped) {
            if (file.substring(file.lastIndexOf('/') + 1).startsWith("libopenblas") && !file.contains("/org/bytedeco/")) {
                return "system (" + file + ")";
            }
        }
        return "bundled";
    }

    /** The OpenBLAS library file mapped into this process (the preloaded system one or the bundled one), or null. */
    public static Path openblasFile(List<String> mapped) {
        for (String file : mapped) {
            String name = file.substring(file.lastIndexOf('/') + 1);
            if (name.startsWith("libopenblas") && name.contains(".so")) {
                return Path.of(file);
            }
        }
        return null;
    }

    /** The files mapped into this process (shared libraries among them), from /proc/self/maps, in its order. */
    public static List<String> mappedFiles() throws IOException {
        List<String> files = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int slash = line.indexOf('/');
            if (slash >= 0) {
                files.add(line.substring(slash));
            }
        }
        return files;
    }

    private static double statusKb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }

    /** Deletes a folder and everything in it; nothing happens when it does not exist. */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
