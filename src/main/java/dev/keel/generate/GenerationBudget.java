package dev.keel.generate;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import dev.keel.KeelException;
import dev.keel.model.io.ModelConfig;

/**
 * Whether a generation batch fits in memory, estimated before it starts (2,000 prompts in one batch of a 4M-parameter
 * model once grew to 22 GB). The estimate counts the KV cache of every sequence at its full length, three times
 * (the cache grows by concatenation, so old and new copies coexist, and attention reads it), the prompt pass's
 * activations (logits over the vocabulary, MLP and attention scores) and the per-step sampling buffers.
 */
public final class GenerationBudget {
    private GenerationBudget() {}

    /** Estimated peak bytes of generating {@code batch} sequences of {@code promptLen} + {@code maxNew} tokens. */
    public static double bytes(ModelConfig c, long batch, long promptLen, long maxNew, int elementBytes) {
        double t = (double) promptLen + maxNew;
        double kv = batch * (double) c.numLayers() * 2 * c.numKvHeads() * c.headDim() * t * elementBytes;
        double promptPass = batch * (double) promptLen
                * (c.vocabSize() + 2.0 * c.intermediateSize() + 4.0 * c.hiddenSize()) * 4
                + batch * (double) c.numHeads() * promptLen * promptLen * 4;
        double sampling = batch * (double) c.vocabSize() * 4 * 4;
        return 3 * kv + promptPass + sampling;
    }

    /**
     * Refuses a batch whose estimate exceeds the memory available now, naming {@code option} (the setting to
     * lower) and the sizes.
     */
    public static void check(ModelConfig c, long batch, long promptLen, long maxNew, int elementBytes, String option) {
        double need = bytes(c, batch, promptLen, maxNew, elementBytes);
        long available = availableBytes();
        if (need > available) {
            throw new KeelException(option + ": a generation batch of " + batch + " sequences of up to "
                    + (promptLen + maxNew) + " tokens needs about " + gb(need) + " GB (KV cache and activations), "
                    + "but only " + gb(available) + " GB of memory are available; lower " + option
                    + " or --max-new-tokens");
        }
    }

    private static String gb(double bytes) {
        return String.format("%.1f", bytes / 1e9);
    }

    /** MemAvailable of /proc/meminfo, or the JVM's view of physical memory where that is missing. */
    public static long availableBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through
        }
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean s ? s.getTotalMemorySize() : Long.MAX_VALUE;
    }
}
