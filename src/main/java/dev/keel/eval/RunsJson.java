package dev.keel.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;

import dev.keel.KeelException;

/**
 * {@code runs.json}: every seed's results exactly as the report reads them, so that the report can be drawn
 * again ({@code keel experiment sentiment --report-only}) without an hour of training.
 */
public final class RunsJson {
    static final String FILE = "runs.json";
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new Jdk8Module())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    private RunsJson() {}

    /** What an experiment wrote: the command that ran it and each seed's results. */
    public record Saved(String command, List<SentimentExperiment.Results> runs) {}

    static void write(Saved saved, Path dir) throws IOException {
        Path tmp = dir.resolve(FILE + ".tmp");
        Files.write(tmp, JSON.writeValueAsBytes(saved));
        Files.move(tmp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The runs written into {@code dir} by an earlier experiment. */
    public static Saved read(Path dir) {
        Path f = dir.resolve(FILE);
        try {
            Saved saved = JSON.readValue(f.toFile(), Saved.class);
            if (saved == null || saved.runs() == null || saved.runs().isEmpty() || saved.command() == null) {
                throw new KeelException(f + ": no runs in it");
            }
            return saved;
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new KeelException(f + ": not found; --report-only draws the report of an earlier run in --out");
        } catch (IOException e) {
            throw new KeelException(f + ": not the runs of an experiment (" + e.getMessage().lines().findFirst().orElse("")
                    + ")", e);
        }
    }
}
