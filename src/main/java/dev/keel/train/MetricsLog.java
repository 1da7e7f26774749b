package dev.keel.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;

/** {@code metrics.jsonl}: one JSON object per logged step, flushed line by line. */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final BufferedWriter out;

    private MetricsLog(Path file, BufferedWriter out) {
        this.file = file;
        this.out = out;
    }

    /**
     * Opens the log for appending. With {@code keepUpToStep} &ge; 0 (a resumed run), lines of later steps
     * (written after the checkpoint by the interrupted run) are dropped first, so the file reads as one run.
     */
    public static MetricsLog open(Path file, long keepUpToStep) {
        try {
            if (keepUpToStep >= 0 && Files.exists(file)) {
                List<String> kept = new ArrayList<>();
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    try {
                        JsonNode n = JSON.readTree(line);
                        if (n != null && n.path("step").asLong(Long.MAX_VALUE) <= keepUpToStep) {
                            kept.add(line);
                        }
                    } catch (IOException e) {
                        // a line cut by the kill: drop it
                    }
                }
                Files.write(file, kept, StandardCharsets.UTF_8);
            } else if (keepUpToStep < 0) {
                Files.deleteIfExists(file);
            }
            return new MetricsLog(file, Files.newBufferedWriter(file, StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND));
        } catch (IOException e) {
            throw new KeelException("cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    /** Creates a run's output folder (and its parents) when missing. */
    public static void createFolder(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot create the output folder: " + e.getMessage(), e);
        }
    }

    public void write(Map<String, ?> metrics) {
        ObjectNode o = JSON.createObjectNode();
        metrics.forEach((k, v) -> {
            if (v instanceof Double d) {
                o.put(k, d);
            } else if (v instanceof Long l) {
                o.put(k, l);
            } else if (v instanceof Integer i) {
                o.put(k, i);
            } else {
                o.put(k, String.valueOf(v));
            }
        });
        try {
            out.write(o.toString());
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new KeelException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new KeelException("cannot close " + file + ": " + e.getMessage(), e);
        }
    }
}
