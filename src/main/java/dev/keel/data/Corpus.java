package dev.keel.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.KeelException;

/**
 * Plain-text corpora for pretraining, as documents: {@code .txt} files split at blank lines into paragraphs
 * (hard line breaks inside a paragraph become spaces), {@code .jsonl} files of {@code {"text"}} records, and
 * {@code .json} files holding an array of {@code {"text"}} objects. Empty documents are skipped.
 */
public final class Corpus {
    private Corpus() {}

    public static List<String> read(List<Path> files) {
        List<String> docs = new ArrayList<>();
        for (Path f : files) {
            String name = f.getFileName().toString();
            if (name.endsWith(".jsonl")) {
                for (Jsonl.Line l : Jsonl.read(f)) {
                    add(docs, l.string("text", true));
                }
            } else if (name.endsWith(".json")) {
                JsonNode root;
                try {
                    root = new ObjectMapper().readTree(Files.readString(f, StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new KeelException(f + ": cannot read or parse: " + e.getMessage(), e);
                }
                if (root == null || !root.isArray()) {
                    throw new KeelException(f + ": expected a JSON array of {\"text\": ...} objects");
                }
                for (int i = 0; i < root.size(); i++) {
                    JsonNode t = root.get(i).get("text");
                    if (t == null || !t.isTextual()) {
                        throw new KeelException(f + ": element " + i + ": field 'text' missing or not a string");
                    }
                    add(docs, t.asText());
                }
            } else {
                String text;
                try {
                    text = Files.readString(f, StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new KeelException(f + ": cannot read: " + e.getMessage(), e);
                }
                for (String para : text.replace("\r\n", "\n").split("\n\\s*\n")) {
                    add(docs, para.replaceAll("\\s*\n\\s*", " "));
                }
            }
        }
        if (docs.isEmpty()) {
            throw new KeelException("the corpus " + files + " holds no text");
        }
        return docs;
    }

    private static void add(List<String> docs, String s) {
        String t = s.strip();
        if (!t.isEmpty()) {
            docs.add(t);
        }
    }
}
