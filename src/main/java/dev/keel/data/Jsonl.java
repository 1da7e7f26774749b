package dev.keel.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;

/**
 * JSON Lines input: one JSON object per line, blank lines skipped. Every error names the file, the line and,
 * where it is about one, the field.
 */
public final class Jsonl {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Jsonl() {}

    /** One parsed line with where it came from. */
    public record Line(Path file, int number, JsonNode node) {
        /** "FILE:LINE" for error messages. */
        public String where() {
            return file + ":" + number;
        }

        public KeelException error(String field, String problem) {
            return new KeelException(where() + ": field '" + field + "': " + problem);
        }

        public boolean has(String field) {
            JsonNode v = node.get(field);
            return v != null && !v.isNull();
        }

        /** A required string field (may be empty only if {@code allowEmpty}). */
        public String string(String field, boolean allowEmpty) {
            JsonNode v = node.get(field);
            if (v == null || v.isNull()) {
                throw error(field, "missing");
            }
            if (!v.isTextual()) {
                throw error(field, "must be a string, got " + v.getNodeType().toString().toLowerCase());
            }
            if (!allowEmpty && v.asText().isEmpty()) {
                throw error(field, "is empty");
            }
            return v.asText();
        }

        /** A required array of non-negative whole numbers (token ids), each below {@code vocabSize}. */
        public long[] ids(String field, long vocabSize, boolean allowEmpty) {
            JsonNode v = node.get(field);
            if (v == null || v.isNull()) {
                throw error(field, "missing");
            }
            if (!v.isArray()) {
                throw error(field, "must be an array of token ids");
            }
            if (!allowEmpty && v.size() == 0) {
                throw error(field, "is empty");
            }
            long[] out = new long[v.size()];
            for (int i = 0; i < out.length; i++) {
                JsonNode x = v.get(i);
                if (!x.canConvertToLong() || !x.isIntegralNumber()) {
                    throw error(field, "element " + i + " is not a whole number: " + x);
                }
                out[i] = x.asLong();
                if (out[i] < 0 || out[i] >= vocabSize) {
                    throw error(field, "token id " + out[i] + " at element " + i + " is outside the vocabulary [0, "
                            + vocabSize + ")");
                }
            }
            return out;
        }
    }

    /** Reads every non-blank line of {@code file}; a line that is not a JSON object is an error. */
    public static List<Line> read(Path file) {
        List<Line> out = new ArrayList<>();
        SafeFiles.forEachLine(file, "a JSONL file", (n, s) -> {
            if (s.isBlank()) {
                return;
            }
            JsonNode node;
            try {
                node = JSON.readTree(s);
            } catch (JsonProcessingException e) {
                throw new KeelException(file + ":" + n + ": not valid JSON: " + e.getOriginalMessage());
            }
            if (node == null || !node.isObject()) {
                throw new KeelException(file + ":" + n + ": expected a JSON object");
            }
            out.add(new Line(file, n, node));
        });
        if (out.isEmpty()) {
            throw new KeelException(file + ": no records");
        }
        return out;
    }
}
