package dev.keel.io;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.keel.KeelException;

/**
 * Reading files a user or a downloaded model folder hands Keel, without trusting them: a name taken from a
 * model folder ({@code weight_map} entries, tokenizer and template files) must resolve inside that folder after
 * symbolic links are resolved, and is refused by name before anything is opened; text must be UTF-8 (a bad byte
 * is reported with its line); a directory where a file is expected says so; and parse errors report where, never
 * what the file holds (a file read by mistake must not leak into a message or a log).
 */
public final class SafeFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SafeFiles() {}

    /**
     * The file {@code name} of the model folder {@code dir}, checked before anything is opened: a relative name
     * without {@code ..} whose real path (symbolic links resolved) lies inside the folder's real path. A folder in
     * Hugging Face's hub cache ({@code models--ORG--NAME/snapshots/REV/}, whose files link to {@code ../../blobs/})
     * counts as the whole {@code models--ORG--NAME} repository folder. A missing file is returned as it is (its
     * reader reports it).
     *
     * @param what what the name is, for the message (e.g. "shard named in model.safetensors.index.json")
     */
    public static Path inside(Path dir, String name, String what) {
        if (name == null || name.isEmpty()) {
            throw new KeelException(dir + ": empty file name (" + what + ")");
        }
        Path rel;
        try {
            rel = Path.of(name);
        } catch (InvalidPathException e) {
            throw new KeelException(dir + ": '" + printable(name) + "' (" + what + ") is not a valid file name");
        }
        boolean parent = false;
        for (Path part : rel) {
            parent |= part.toString().equals("..");
        }
        if (rel.isAbsolute() || parent) {
            throw new KeelException(dir + ": '" + printable(name) + "' (" + what + ") points outside the model "
                    + "folder; refused (only names inside the folder are read)");
        }
        Path p = dir.resolve(rel);
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return p;
        }
        Path root = root(dir);
        Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            // a dangling link: nothing to open, but say where it points no further than its name
            throw new KeelException(dir + ": '" + printable(name) + "' (" + what + ") is a broken symbolic link");
        }
        if (!real.startsWith(root)) {
            throw new KeelException(dir + ": '" + printable(name) + "' (" + what + ") is a symbolic link to a file "
                    + "outside the model folder; refused (only files inside the folder are read)");
        }
        return p;
    }

    /** The real path files of {@code dir} must lie under: the folder, or its hub-cache repository folder. */
    private static Path root(Path dir) {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot resolve the model folder: " + e.getMessage(), e);
        }
        Path parent = real.getParent();
        Path repo = parent == null ? null : parent.getParent();
        if (repo != null && parent.getFileName().toString().equals("snapshots")
                && repo.getFileName() != null && repo.getFileName().toString().startsWith("models--")) {
            return repo;
        }
        return real;
    }

    /** Refuses a directory or a missing path where a file is expected, naming {@code what} it was meant to be. */
    public static void requireFile(Path file, String what) {
        if (Files.isDirectory(file)) {
            throw new KeelException(file + ": is a directory; " + what + " must be a file");
        }
        if (!Files.exists(file)) {
            throw new KeelException(file + ": no such file (" + what + ")");
        }
        if (!Files.isRegularFile(file)) {
            throw new KeelException(file + ": not a regular file (" + what + ")");
        }
    }

    /** The whole of {@code file} as UTF-8 text; an invalid byte is an error naming the line. */
    public static String readText(Path file, String what) {
        requireFile(file, what);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new KeelException(file + ": cannot read: " + e.getClass().getSimpleName(), e);
        }
        return decode(bytes, file, 1);
    }

    /** {@code file} parsed as JSON; a syntax error names the line and column, never the text there. */
    public static JsonNode readJson(Path file, String what) {
        String text = readText(file, what);
        try {
            return JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new KeelException(file + ": not valid JSON (" + where(e) + ")");
        }
    }

    /** "line L, column C" of a parse error, or "position unknown". */
    public static String where(JsonProcessingException e) {
        JsonLocation l = e.getLocation();
        return l == null ? "position unknown" : "line " + l.getLineNr() + ", column " + l.getColumnNr();
    }

    /** One line of a text file, numbered from 1. */
    @FunctionalInterface
    public interface LineConsumer {
        void accept(int number, String line);
    }

    /**
     * Calls {@code each} with every line of {@code file} ({@code \n} or {@code \r\n} ended), decoding each as
     * strict UTF-8: an invalid byte stops with the file and the line.
     */
    public static void forEachLine(Path file, String what, LineConsumer each) {
        requireFile(file, what);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            int n = 0;
            int b;
            boolean pending = false;
            while ((b = in.read()) >= 0) {
                pending = true;
                if (b == '\n') {
                    n++;
                    each.accept(n, stripCr(decode(line.toByteArray(), file, n)));
                    line.reset();
                    pending = false;
                } else {
                    line.write(b);
                }
            }
            if (pending) {
                n++;
                each.accept(n, stripCr(decode(line.toByteArray(), file, n)));
            }
        } catch (IOException e) {
            throw new KeelException(file + ": cannot read: " + e.getClass().getSimpleName(), e);
        }
    }

    private static String stripCr(String s) {
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    /** Strict UTF-8; the line of an invalid byte is counted from {@code firstLine}. */
    private static String decode(byte[] bytes, Path file, int firstLine) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1);
        CoderResult r = d.decode(in, out, true);
        if (r.isError()) {
            int at = in.position();
            int line = firstLine;
            int lineStart = 0;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            throw new KeelException(file + ":" + line + ": invalid UTF-8 (byte 0x"
                    + String.format("%02X", bytes[at] & 0xff) + " at byte " + (at - lineStart + 1) + " of the line)");
        }
        d.flush(out);
        return out.flip().toString();
    }

    /** {@code s} with control characters escaped and cut to 80 characters, for quoting a name in a message. */
    public static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && b.length() < 80; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return s.length() > 80 ? b + "..." : b.toString();
    }
}
