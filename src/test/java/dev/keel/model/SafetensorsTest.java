package dev.keel.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TestSupport;
import dev.keel.model.io.DType;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

class SafetensorsTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void writeThenReadIsBitExactForEveryFloatTypeAndInt64() throws IOException {
        torch.manual_seed(3);
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("b.f32", torch.randn(3, 5));
        m.put("a.f16", torch.randn(7).to(ScalarType.Half));
        m.put("c.bf16", torch.randn(2, 2, 3).to(ScalarType.BFloat16));
        m.put("d.i64", Tensors.longs(new long[] {1, -2, 1L << 40}, null));
        m.put("e.scalar", torch.randn(new long[0]));
        Path f = tmp.resolve("x.safetensors");
        Safetensors.write(f, m, Map.of("format", "pt"));
        Safetensors.Header h = Safetensors.readHeader(f);
        assertEquals(List.of("a.f16", "b.f32", "c.bf16", "d.i64", "e.scalar"), List.copyOf(h.entries().keySet()),
                "tensors are written in name order");
        assertEquals("pt", h.metadata().get("format"));
        assertEquals(0, h.dataStart() % 8, "header padded to 8 bytes");
        for (Map.Entry<String, Tensor> e : m.entrySet()) {
            Tensor back = Safetensors.read(h, e.getKey());
            assertEquals(DType.fromScalarType(e.getValue().scalar_type()), DType.fromScalarType(back.scalar_type()));
            assertArrayEquals(Tensors.shape(e.getValue()), Tensors.shape(back));
            assertTrue(torch.equal(e.getValue(), back), e.getKey());
        }
        assertTrue(Files.list(tmp).noneMatch(p -> p.toString().endsWith(".tmp")), "no temporary file left");
    }

    @Test
    void readingATensorLeavesNoMappingOfTheFileBehind() throws IOException {
        // a mapping's pages count in the process's resident memory (beside the tensor's copy) until the garbage
        // collector unmaps it: at load time, the checkpoint's size again
        Path f = tmp.resolve("unmapped.safetensors");
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("w", torch.randn(256, 1024));
        Safetensors.write(f, m, null);
        Tensor back = Safetensors.read(Safetensors.readHeader(f), "w");
        assertEquals(0.0, Tensors.item(back.sub(m.get("w")).abs().max()));
        String maps = Files.readString(Path.of("/proc/self/maps"));
        assertFalse(maps.contains(f.toRealPath().toString()), "the file is still mapped into the process");
    }

    @Test
    void aTruncatedFileNamesTheFileAndTheTensorThatRunsPastTheEnd() throws IOException {
        Path f = tmp.resolve("t.safetensors");
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("first", torch.ones(4));
        m.put("second", torch.ones(100));
        Safetensors.write(f, m, null);
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 10));
        KeelException e = assertThrows(KeelException.class, () -> Safetensors.readHeader(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("'second'"), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void aHeaderLengthPastTheEndOfTheFileIsAnError() throws IOException {
        Path f = tmp.resolve("h.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).put(new byte[8]);
        Files.write(f, b.array());
        KeelException e = assertThrows(KeelException.class, () -> Safetensors.readHeader(f));
        // the length field is the file's first 8 bytes: the message says it does not fit, never what it holds
        assertTrue(e.getMessage().contains("header length field does not fit the file"), e.getMessage());
        assertFalse(e.getMessage().contains("1000"), e.getMessage());
    }

    @Test
    void offsetsThatDisagreeWithTheShapeAreAnError() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}";
        byte[] hb = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + hb.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(hb.length).put(hb);
        Path f = tmp.resolve("o.safetensors");
        Files.write(f, b.array());
        KeelException e = assertThrows(KeelException.class, () -> Safetensors.readHeader(f));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("data_offsets"), e.getMessage());
    }

    @Test
    void anUnsupportedDtypeIsNamed() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        byte[] hb = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + hb.length + 1).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(hb.length).put(hb);
        Path f = tmp.resolve("d.safetensors");
        Files.write(f, b.array());
        KeelException e = assertThrows(KeelException.class, () -> Safetensors.readHeader(f));
        assertTrue(e.getMessage().contains("F8_E4M3") && e.getMessage().contains("'w'"), e.getMessage());
    }
}
