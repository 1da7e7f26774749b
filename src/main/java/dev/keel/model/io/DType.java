package dev.keel.model.io;

import java.util.Locale;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types Keel reads and writes, with their safetensors names and libtorch scalar types. */
public enum DType {
    F64("F64", 8, ScalarType.Double),
    F32("F32", 4, ScalarType.Float),
    F16("F16", 2, ScalarType.Half),
    BF16("BF16", 2, ScalarType.BFloat16),
    I64("I64", 8, ScalarType.Long),
    I32("I32", 4, ScalarType.Int),
    I16("I16", 2, ScalarType.Short),
    I8("I8", 1, ScalarType.Char),
    U8("U8", 1, ScalarType.Byte),
    BOOL("BOOL", 1, ScalarType.Bool);

    private final String safetensorsName;
    private final int bytes;
    private final ScalarType scalarType;

    DType(String safetensorsName, int bytes, ScalarType scalarType) {
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
        this.scalarType = scalarType;
    }

    public String safetensorsName() {
        return safetensorsName;
    }

    public int bytes() {
        return bytes;
    }

    public ScalarType scalarType() {
        return scalarType;
    }

    /** The type named in a safetensors header, or null when Keel does not support it. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        return null;
    }

    public static DType fromScalarType(ScalarType t) {
        // an enum returned by a native call is a fresh object: intern() maps it to the constant
        ScalarType c = t.intern();
        for (DType d : values()) {
            if (d.scalarType == c) {
                return d;
            }
        }
        throw new IllegalArgumentException("no safetensors type for libtorch scalar type " + t);
    }

    /**
     * Parses a user or config.json dtype name: {@code float32}, {@code fp32}, {@code f32}, {@code float16},
     * {@code half}, {@code bfloat16}, {@code bf16} (case-insensitive).
     */
    public static DType parseFloat(String name) {
        switch (name.toLowerCase(Locale.ROOT).replace("torch.", "")) {
            case "float32": case "fp32": case "f32": case "float":
                return F32;
            case "float16": case "fp16": case "f16": case "half":
                return F16;
            case "bfloat16": case "bf16":
                return BF16;
            case "float64": case "f64": case "double":
                return F64;
            default:
                throw new IllegalArgumentException("unknown floating-point dtype '" + name
                        + "' (expected float32, float16 or bfloat16)");
        }
    }

    /** The name transformers writes in config.json's torch_dtype. */
    public String torchName() {
        switch (this) {
            case F64: return "float64";
            case F32: return "float32";
            case F16: return "float16";
            case BF16: return "bfloat16";
            default: return name().toLowerCase(Locale.ROOT);
        }
    }

    public boolean isFloatingPoint() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }
}
