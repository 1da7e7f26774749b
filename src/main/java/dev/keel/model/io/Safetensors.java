package dev.keel.model.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.KeelException;
import dev.keel.io.SafeFiles;
import dev.keel.tensor.Tensors;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;

/**
 * Reader and writer of the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON {@code {name: {dtype, shape, data_offsets: [begin, end]}}}
 * (plus an optional {@code __metadata__} map of strings), then the raw little-endian tensor bytes, offsets
 * relative to the start of the data. Offsets are 64-bit; each tensor is mapped on its own so files past 2 GiB
 * work. Reading never executes anything from the file, unlike pickle.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The reference implementation refuses headers over 100 MB; so does Keel. */
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private Safetensors() {}

    /** One entry of a header. */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }
    }

    /** A parsed header: the entries in file order, the metadata and where the data starts. */
    public record Header(Path file, Map<String, Entry> entries, Map<String, String> metadata, long dataStart) {}

    /**
     * Reads and validates the header of {@code file} as Hugging Face's reader (the safetensors crate's
     * {@code Metadata::validate}) does: the tensors, in order of their offsets, must tile the data exactly, each
     * starting where the one before ends (no overlap, no gap), each as long as its dtype and shape say, and the
     * last ending at the end of the file. Messages name the file and the tensor, never bytes of the file.
     */
    public static Header readHeader(Path file) {
        if (Files.isDirectory(file)) {
            throw new KeelException(file + ": is a directory, not a safetensors file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new KeelException(file + ": not a safetensors file (shorter than the 8-byte header length)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.flip().getLong();
            if (n <= 0 || n > MAX_HEADER || 8 + n > size) {
                throw new KeelException(file + ": not a safetensors file, or a truncated one (its header length "
                        + "field does not fit the file)");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            if (hb.get(0) != '{') {
                throw new KeelException(file + ": not a safetensors file (the header does not start with '{')");
            }
            JsonNode root;
            try {
                root = JSON.readTree(StandardCharsets.UTF_8.newDecoder().decode(hb.flip()).toString());
            } catch (JsonProcessingException e) {
                throw new KeelException(file + ": the safetensors header is not valid JSON (" + SafeFiles.where(e) + ")");
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new KeelException(file + ": the safetensors header is not valid UTF-8");
            }
            if (root == null || !root.isObject()) {
                throw new KeelException(file + ": the safetensors header is not a JSON object");
            }
            long dataStart = 8 + n;
            long dataSize = size - dataStart;
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getKey().equals("__metadata__")) {
                    if (!f.getValue().isObject()) {
                        throw new KeelException(file + ": __metadata__ must be a map of strings");
                    }
                    f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                Entry e = parseEntry(file, f.getKey(), f.getValue());
                entries.put(e.name, e);
            }
            checkLayout(file, entries.values(), dataSize);
            return new Header(file, Collections.unmodifiableMap(entries), metadata, dataStart);
        } catch (IOException e) {
            throw new KeelException(file + ": cannot read: " + e.getClass().getSimpleName(), e);
        }
    }

    /** The tensors in offset order must tile [0, dataSize) exactly, as the safetensors crate requires. */
    private static void checkLayout(Path file, java.util.Collection<Entry> entries, long dataSize) {
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(java.util.Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : byOffset) {
            if (e.begin == expected && e.end > dataSize) {
                throw new KeelException(file + ": tensor '" + SafeFiles.printable(e.name) + "' ends at byte " + e.end
                        + " of the data but the file holds only " + dataSize + " data bytes (truncated or corrupt file)");
            }
            if (e.begin != expected) {
                throw new KeelException(file + ": tensor '" + SafeFiles.printable(e.name) + "' has data_offsets ["
                        + e.begin + ", " + e.end + "] but the data before it ends at byte " + expected + " ("
                        + (e.begin < expected ? "overlapping" : "a gap between") + " tensors; refused as Hugging "
                        + "Face's reader refuses it)");
            }
            expected = e.end;
        }
        if (expected != dataSize) {
            throw new KeelException(file + ": the tensors cover " + expected + " data bytes but the file holds "
                    + dataSize + (expected > dataSize ? " (truncated file)" : " (trailing bytes after the last tensor)"));
        }
    }

    private static Entry parseEntry(Path file, String name, JsonNode v) {
        String where = file + ": tensor '" + SafeFiles.printable(name) + "'";
        JsonNode dt = v.get("dtype");
        JsonNode sh = v.get("shape");
        JsonNode off = v.get("data_offsets");
        if (dt == null || sh == null || off == null || !dt.isTextual() || !sh.isArray() || !off.isArray()
                || off.size() != 2) {
            throw new KeelException(where + ": header entry needs dtype, shape and data_offsets [begin, end]");
        }
        DType dtype = DType.fromSafetensors(dt.asText());
        if (dtype == null) {
            throw new KeelException(where + ": unsupported dtype " + SafeFiles.printable(dt.asText()));
        }
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            shape[i] = d.isIntegralNumber() && d.canConvertToLong() ? d.asLong() : -1;
            if (shape[i] < 0) {
                throw new KeelException(where + ": shape must be whole numbers >= 0");
            }
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw new KeelException(where + ": shape " + Arrays.toString(shape) + " overflows a 64-bit size");
            }
        }
        JsonNode b0 = off.get(0);
        JsonNode b1 = off.get(1);
        long begin = b0.isIntegralNumber() && b0.canConvertToLong() ? b0.asLong() : -1;
        long end = b1.isIntegralNumber() && b1.canConvertToLong() ? b1.asLong() : -1;
        Entry e = new Entry(name, dtype, shape, begin, end);
        long bytes;
        try {
            bytes = Math.multiplyExact(numel, (long) dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new KeelException(where + ": shape " + Arrays.toString(shape) + " overflows a 64-bit size");
        }
        if (begin < 0 || end < begin) {
            throw new KeelException(where + ": data_offsets [" + begin + ", " + end + "] are not an ordered pair of "
                    + "byte positions (begin <= end)");
        }
        if (end - begin != bytes) {
            throw new KeelException(where + ": data_offsets [" + begin + ", " + end + "] do not fit shape "
                    + Arrays.toString(shape) + " of " + dtype.safetensorsName());
        }
        return e;
    }

    /** Reads one tensor, in its stored dtype, into memory owned by libtorch (a copy, so the file may go). */
    public static Tensor read(Header h, String name) {
        Entry e = h.entries().get(name);
        if (e == null) {
            throw new KeelException(h.file() + ": no tensor '" + name + "'");
        }
        Tensor t = Tensors.empty(e.shape(), e.dtype().scalarType());
        long bytes = e.end() - e.begin();
        if (bytes == 0) {
            return t;
        }
        try (FileChannel ch = FileChannel.open(h.file(), StandardOpenOption.READ)) {
            long pos = h.dataStart() + e.begin();
            BytePointer dst = new BytePointer(t.data_ptr());
            long done = 0;
            // read straight into the tensor, in chunks (a ByteBuffer holds at most 2 GiB); not through a mapping,
            // whose pages would count in the process's resident memory beside the copy until the garbage
            // collector unmapped them (the size of the checkpoint again at peak)
            while (done < bytes) {
                long chunk = Math.min(bytes - done, 1L << 30);
                ByteBuffer out = dst.position(done).limit(done + chunk).capacity(done + chunk).asByteBuffer();
                readFully(ch, out, pos + done);
                done += chunk;
            }
        } catch (IOException ex) {
            throw new KeelException(h.file() + ": cannot read tensor '" + name + "': " + ex.getMessage(), ex);
        }
        return t;
    }

    /**
     * Writes {@code tensors} to {@code file} atomically (a temporary file in the same folder, then a rename),
     * in name order as transformers does. Tensors are written in their own dtype; non-contiguous ones are
     * made contiguous first.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        TreeMap<String, Tensor> sorted = new TreeMap<>(tensors);
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        List<Tensor> contiguous = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            Tensor t = e.getValue().detach().cpu().contiguous();
            contiguous.add(t);
            DType d = DType.fromScalarType(t.scalar_type());
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", d.safetensorsName());
            var shape = n.putArray("shape");
            for (int i = 0; i < t.dim(); i++) {
                shape.add(t.size(i));
            }
            long bytes = t.numel() * d.bytes();
            n.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] hjson;
        try {
            hjson = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new KeelException("cannot encode safetensors header for " + file, e);
        }
        int padded = (hjson.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(hjson);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) {
                ch.write(head);
            }
            for (Tensor t : contiguous) {
                long bytes = t.nbytes();
                BytePointer p = new BytePointer(t.data_ptr());
                long done = 0;
                while (done < bytes) {
                    long chunk = Math.min(bytes - done, 1L << 30);
                    ByteBuffer b = p.position(done).limit(done + chunk).capacity(done + chunk).asByteBuffer();
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                    done += chunk;
                }
            }
            ch.force(true);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error is the one to report
            }
            throw new KeelException("cannot write " + file + ": " + e.getMessage(), e);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new KeelException("cannot move " + tmp + " to " + file + ": " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }
}
