/*
 * Keel's native row kernels: the rows of a bfloat16 or float32 matrix times a float32 vector, for batch-1 decoding
 * (dev.keel.model.NativeRows). They do what Bf16MvKernel.rows and StepKernel.rows do in the JDK's vector API, and
 * read memory faster: on the AMD EPYC of docs/PERFORMANCE.md (item 32) a C loop read 57-72 GB/s on two threads
 * where the JVM's loop read 38-47.
 *
 * Built by Maven with the system's C compiler (pom.xml, "native-rows"); one library for every x86-64 CPU, the
 * AVX-512 or AVX2 loop chosen when the library loads, a plain C loop otherwise.
 */
#include <jni.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*bf16_rows_fn)(const int32_t *w, int cols, const float *xe, const float *xo, float *y, int r0, int r1);
typedef void (*f32_rows_fn)(const float *w, int cols, const float *x, float *y, int r0, int r1);

#define HIGH ((int32_t)0xFFFF0000)
#ifndef PREFETCH
#define PREFETCH 4096
#endif

static inline float bf16_even(int32_t v) {
    float f;
    int32_t b = (int32_t)((uint32_t)v << 16);
    memcpy(&f, &b, 4);
    return f;
}

static inline float bf16_odd(int32_t v) {
    float f;
    int32_t b = v & HIGH;
    memcpy(&f, &b, 4);
    return f;
}

/* y[r] = sum over k < cols / 2 of W[r, 2k] xe[k] + W[r, 2k + 1] xo[k]; W's row r is ints w[r * cols / 2 ...]. */
static void bf16_rows_c(const int32_t *w, int cols, const float *xe, const float *xo, float *y, int r0, int r1) {
    int half = cols / 2;
    for (int r = r0; r < r1; r++) {
        const int32_t *p = w + (size_t)r * half;
        float s = 0;
        for (int k = 0; k < half; k++) {
            s += bf16_even(p[k]) * xe[k] + bf16_odd(p[k]) * xo[k];
        }
        y[r - r0] = s;
    }
}

static void f32_rows_c(const float *w, int cols, const float *x, float *y, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *p = w + (size_t)r * cols;
        float s = 0;
        for (int k = 0; k < cols; k++) {
            s += p[k] * x[k];
        }
        y[r - r0] = s;
    }
}

__attribute__((target("avx512f")))
static void bf16_rows_512(const int32_t *w, int cols, const float *xe, const float *xo, float *y, int r0, int r1) {
    int half = cols / 2;
    int upper = half - half % 32;
    int upper16 = half - half % 16;
    const __m512i high = _mm512_set1_epi32(HIGH);
    for (int r = r0; r < r1; r++) {
        const int32_t *p = w + (size_t)r * half;
        __m512 e0 = _mm512_setzero_ps(), e1 = _mm512_setzero_ps(), o0 = _mm512_setzero_ps(), o1 = _mm512_setzero_ps();
        int k = 0;
        for (; k < upper; k += 32) {
            _mm_prefetch((const char *)(p + k) + PREFETCH, _MM_HINT_T0);
            _mm_prefetch((const char *)(p + k) + PREFETCH + 64, _MM_HINT_T0);
            __m512i v0 = _mm512_loadu_si512((const void *)(p + k));
            __m512i v1 = _mm512_loadu_si512((const void *)(p + k + 16));
            e0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_loadu_ps(xe + k), e0);
            o0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, high)), _mm512_loadu_ps(xo + k), o0);
            e1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), _mm512_loadu_ps(xe + k + 16), e1);
            o1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v1, high)), _mm512_loadu_ps(xo + k + 16), o1);
        }
        for (; k < upper16; k += 16) {
            __m512i v0 = _mm512_loadu_si512((const void *)(p + k));
            e0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_loadu_ps(xe + k), e0);
            o0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, high)), _mm512_loadu_ps(xo + k), o0);
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(e0, e1), _mm512_add_ps(o0, o1)));
        for (; k < half; k++) {
            s += bf16_even(p[k]) * xe[k] + bf16_odd(p[k]) * xo[k];
        }
        y[r - r0] = s;
    }
}

/*
 * The float32 loops read ROW_BLOCK rows at a time, each row on one accumulator, x loaded once for all of them: eight
 * streams through memory at once. Alternating with the loops that read one row at a time (two accumulators and a
 * software prefetch) in one process, a decoded token took 44.9 against 52.7 ms at Qwen2.5-0.5B (medians;
 * docs/PERFORMANCE.md, item 36), and no different beyond the noise at SmolLM2-135M's 576 columns. The same blocks did
 * not pay for bfloat16 rows, which stay one at a time. A row's sum does not depend on the rows beside it, so however the rows are split between
 * threads, each row's bits are the same.
 */
#define ROW_BLOCK 8

__attribute__((target("avx512f")))
static void f32_rows_512(const float *w, int cols, const float *x, float *y, int r0, int r1) {
    int upper = cols - cols % 16;
    int r = r0;
    for (; r + ROW_BLOCK <= r1; r += ROW_BLOCK) {
        const float *p = w + (size_t)r * cols;
        __m512 a[ROW_BLOCK];
        _Pragma("GCC unroll 8")
        for (int i = 0; i < ROW_BLOCK; i++) {
            a[i] = _mm512_setzero_ps();
        }
        for (int k = 0; k < upper; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            _Pragma("GCC unroll 8")
            for (int i = 0; i < ROW_BLOCK; i++) {
                a[i] = _mm512_fmadd_ps(_mm512_loadu_ps(p + (size_t)i * cols + k), xv, a[i]);
            }
        }
        _Pragma("GCC unroll 8")
        for (int i = 0; i < ROW_BLOCK; i++) {
            float s = _mm512_reduce_add_ps(a[i]);
            for (int k = upper; k < cols; k++) {
                s += p[(size_t)i * cols + k] * x[k];
            }
            y[r - r0 + i] = s;
        }
    }
    for (; r < r1; r++) {
        const float *p = w + (size_t)r * cols;
        __m512 a = _mm512_setzero_ps();
        for (int k = 0; k < upper; k += 16) {
            a = _mm512_fmadd_ps(_mm512_loadu_ps(p + k), _mm512_loadu_ps(x + k), a);
        }
        float s = _mm512_reduce_add_ps(a);
        for (int k = upper; k < cols; k++) {
            s += p[k] * x[k];
        }
        y[r - r0] = s;
    }
}

__attribute__((target("avx2,fma")))
static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static void bf16_rows_256(const int32_t *w, int cols, const float *xe, const float *xo, float *y, int r0, int r1) {
    int half = cols / 2;
    int upper = half - half % 16;
    int upper8 = half - half % 8;
    const __m256i high = _mm256_set1_epi32(HIGH);
    for (int r = r0; r < r1; r++) {
        const int32_t *p = w + (size_t)r * half;
        __m256 e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps(), o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps();
        int k = 0;
        for (; k < upper; k += 16) {
            _mm_prefetch((const char *)(p + k) + PREFETCH, _MM_HINT_T0);
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(p + k));
            __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + k + 8));
            e0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), _mm256_loadu_ps(xe + k), e0);
            o0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v0, high)), _mm256_loadu_ps(xo + k), o0);
            e1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), _mm256_loadu_ps(xe + k + 8), e1);
            o1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v1, high)), _mm256_loadu_ps(xo + k + 8), o1);
        }
        for (; k < upper8; k += 8) {
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(p + k));
            e0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), _mm256_loadu_ps(xe + k), e0);
            o0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v0, high)), _mm256_loadu_ps(xo + k), o0);
        }
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(e0, e1), _mm256_add_ps(o0, o1)));
        for (; k < half; k++) {
            s += bf16_even(p[k]) * xe[k] + bf16_odd(p[k]) * xo[k];
        }
        y[r - r0] = s;
    }
}

__attribute__((target("avx2,fma")))
static void f32_rows_256(const float *w, int cols, const float *x, float *y, int r0, int r1) {
    int upper = cols - cols % 8;
    int r = r0;
    for (; r + ROW_BLOCK <= r1; r += ROW_BLOCK) {
        const float *p = w + (size_t)r * cols;
        __m256 a[ROW_BLOCK];
        _Pragma("GCC unroll 8")
        for (int i = 0; i < ROW_BLOCK; i++) {
            a[i] = _mm256_setzero_ps();
        }
        for (int k = 0; k < upper; k += 8) {
            __m256 xv = _mm256_loadu_ps(x + k);
            _Pragma("GCC unroll 8")
            for (int i = 0; i < ROW_BLOCK; i++) {
                a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(p + (size_t)i * cols + k), xv, a[i]);
            }
        }
        _Pragma("GCC unroll 8")
        for (int i = 0; i < ROW_BLOCK; i++) {
            float s = hsum256(a[i]);
            for (int k = upper; k < cols; k++) {
                s += p[(size_t)i * cols + k] * x[k];
            }
            y[r - r0 + i] = s;
        }
    }
    for (; r < r1; r++) {
        const float *p = w + (size_t)r * cols;
        __m256 a = _mm256_setzero_ps();
        for (int k = 0; k < upper; k += 8) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(p + k), _mm256_loadu_ps(x + k), a);
        }
        float s = hsum256(a);
        for (int k = upper; k < cols; k++) {
            s += p[k] * x[k];
        }
        y[r - r0] = s;
    }
}

static bf16_rows_fn bf16_rows = bf16_rows_c;
static f32_rows_fn f32_rows = f32_rows_c;
static const char *isa = "c";

/* Switches to the loops named ("avx512f", "avx2" or "c") if this CPU runs them; returns whether it did. */
static int choose(const char *name) {
    if (strcmp(name, "avx512f") == 0 && __builtin_cpu_supports("avx512f")) {
        bf16_rows = bf16_rows_512;
        f32_rows = f32_rows_512;
        isa = "avx512f";
    } else if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        bf16_rows = bf16_rows_256;
        f32_rows = f32_rows_256;
        isa = "avx2";
    } else if (strcmp(name, "c") == 0) {
        bf16_rows = bf16_rows_c;
        f32_rows = f32_rows_c;
        isa = "c";
    } else {
        return 0;
    }
    return 1;
}

/* The widest loops this CPU runs. */
JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)vm;
    (void)reserved;
    __builtin_cpu_init();
    if (!choose("avx512f") && !choose("avx2")) {
        choose("c");
    }
    return JNI_VERSION_1_8;
}

/*
 * x is copied to a buffer aligned to a cache line: unaligned, every other 512-bit load of x spans two lines, and the
 * AVX-512 loop read 35-39 GB/s on two threads where it reads 47-50 from aligned copies.
 */
#define ALIGNED __attribute__((aligned(64)))

/* Arrays up to this many floats are copied on the stack; larger ones through aligned_alloc. */
#define STACK_FLOATS 4096

/*
 * A buffer of n floats, the stack's (n <= STACK_FLOATS) or an aligned_alloc'd one (*owned, for the caller to free),
 * holding a's first n floats when a is given.
 */
static float *floats_in(JNIEnv *env, jfloatArray a, jint n, float *stack, float **owned) {
    float *buf = stack;
    *owned = NULL;
    if (n > STACK_FLOATS) {
        buf = *owned = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
        if (buf == NULL) {
            return NULL;
        }
    }
    if (a != NULL) {
        (*env)->GetFloatArrayRegion(env, a, 0, n, buf);
    }
    return buf;
}

static void out_of_memory(JNIEnv *env) {
    jclass c = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (c != NULL) {
        (*env)->ThrowNew(env, c, "native row kernel: malloc failed");
    }
}

/* f rounded to the nearest bfloat16 (ties to even), NaN to the quiet NaN 0x7FC0, as Bf16Mv.toBf16 and c10. */
static inline float round_bf16(float f) {
    if (f != f) {
        return bf16_even(0x7FC0);
    }
    uint32_t b;
    memcpy(&b, &f, 4);
    b = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&f, &b, 4);
    return f;
}

/* out[i] += bias[at + i] for i < n (bias NULL: nothing). Returns 0, or -1 with an OutOfMemoryError pending. */
static int add_bias(JNIEnv *env, float *out, int n, jfloatArray bias, jint at) {
    if (bias == NULL) {
        return 0;
    }
    ALIGNED float sb[STACK_FLOATS];
    float *ob;
    float *b = floats_in(env, NULL, n, sb, &ob);
    if (b == NULL) {
        out_of_memory(env);
        return -1;
    }
    (*env)->GetFloatArrayRegion(env, bias, at, n, b);
    for (int i = 0; i < n; i++) {
        out[i] += b[i];
    }
    free(ob);
    return 0;
}

/*
 * out[0 .. n) = the kernel's sums of rows r0 .. r0 + n, each plus bias[biasAt + r] (bias NULL: none) and rounded to
 * bfloat16 when asked, then written to y[yAt + r].
 */
static void finish_rows(JNIEnv *env, float *out, int r0, int n, jfloatArray y, jint yAt, jfloatArray bias, jint biasAt,
        jboolean round) {
    if (add_bias(env, out, n, bias, biasAt + r0) != 0) {
        return;
    }
    if (round) {
        for (int i = 0; i < n; i++) {
            out[i] = round_bf16(out[i]);
        }
    }
    (*env)->SetFloatArrayRegion(env, y, yAt + r0, n, out);
}

/*
 * The rows r0 .. r1 of W (rows, cols) bfloat16 from byte `from` of direct buffer w times x (its even and odd halves),
 * plus bias[biasAt + r] when bias is given; then either written to the float array y at yAt + r (rounded to bfloat16
 * when asked), or, when dst is not NULL, rounded and stored as bfloat16 at dst[r]. What NativeRows.bf16 and bf16Out
 * share.
 */
static void bf16_product(JNIEnv *env, jobject w, jlong from, jint cols, jfloatArray xe, jfloatArray xo, jfloatArray y,
        jint yAt, uint16_t *dst, jfloatArray bias, jint biasAt, jboolean round, jint r0, jint r1) {
    const char *base = (*env)->GetDirectBufferAddress(env, w);
    int half = cols / 2;
    ALIGNED float se[STACK_FLOATS], so[STACK_FLOATS], sy[STACK_FLOATS];
    float *oe, *oo, *oy;
    float *e = floats_in(env, xe, half, se, &oe);
    float *o = floats_in(env, xo, half, so, &oo);
    float *out = floats_in(env, NULL, r1 - r0, sy, &oy);
    if (e == NULL || o == NULL || out == NULL) {
        out_of_memory(env);
    } else if (!(*env)->ExceptionCheck(env)) {
        bf16_rows((const int32_t *)(base + from), cols, e, o, out, r0, r1);
        int n = r1 - r0;
        if (dst == NULL) {
            finish_rows(env, out, r0, n, y, yAt, bias, biasAt, round);
        } else if (add_bias(env, out, n, bias, biasAt + r0) == 0) {
            for (int i = 0; i < n; i++) {
                float v = round_bf16(out[i]);
                uint32_t b;
                memcpy(&b, &v, 4);
                dst[r0 + i] = (uint16_t)(b >> 16);
            }
        }
    }
    free(oe);
    free(oo);
    free(oy);
}

/*
 * NativeRows.bf16(ByteBuffer w, long from, int cols, float[] xe, float[] xo, float[] y, int yAt, float[] bias,
 * int biasAt, boolean round, int r0, int r1): for r0 <= r < r1, y[yAt + r] = row r of W (rows, cols) bfloat16 from
 * byte `from` of the direct buffer w times x, plus bias[biasAt + r] when bias is given, rounded to bfloat16 when
 * asked. The caller checks bounds.
 */
JNIEXPORT void JNICALL Java_dev_keel_model_NativeRows_bf16(JNIEnv *env, jclass cls, jobject w, jlong from, jint cols,
        jfloatArray xe, jfloatArray xo, jfloatArray y, jint yAt, jfloatArray bias, jint biasAt, jboolean round,
        jint r0, jint r1) {
    (void)cls;
    bf16_product(env, w, from, cols, xe, xo, y, yAt, NULL, bias, biasAt, round, r0, r1);
}

/*
 * NativeRows.bf16Out(ByteBuffer w, long from, int cols, float[] xe, float[] xo, ByteBuffer y, float[] bias, int r0,
 * int r1): as bf16 with the sums (plus bias[r] when given) rounded to bfloat16 and stored as bfloat16 in the direct
 * buffer y at element r: a bfloat16 tensor's memory. The caller checks bounds.
 */
JNIEXPORT void JNICALL Java_dev_keel_model_NativeRows_bf16Out(JNIEnv *env, jclass cls, jobject w, jlong from, jint cols,
        jfloatArray xe, jfloatArray xo, jobject y, jfloatArray bias, jint r0, jint r1) {
    (void)cls;
    bf16_product(env, w, from, cols, xe, xo, NULL, 0, (uint16_t *)(*env)->GetDirectBufferAddress(env, y), bias, 0,
            JNI_TRUE, r0, r1);
}

/* NativeRows.f32(ByteBuffer w, long from, int cols, float[] x, float[] y, int yAt, float[] bias, int biasAt,
 * boolean round, int r0, int r1): as bf16, float32 W. */
JNIEXPORT void JNICALL Java_dev_keel_model_NativeRows_f32(JNIEnv *env, jclass cls, jobject w, jlong from, jint cols,
        jfloatArray x, jfloatArray y, jint yAt, jfloatArray bias, jint biasAt, jboolean round, jint r0, jint r1) {
    (void)cls;
    const char *base = (*env)->GetDirectBufferAddress(env, w);
    ALIGNED float sx[STACK_FLOATS], sy[STACK_FLOATS];
    float *ox, *oy;
    float *in = floats_in(env, x, cols, sx, &ox);
    float *out = floats_in(env, NULL, r1 - r0, sy, &oy);
    if (in == NULL || out == NULL) {
        out_of_memory(env);
    } else if (!(*env)->ExceptionCheck(env)) {
        f32_rows((const float *)(base + from), cols, in, out, r0, r1);
        finish_rows(env, out, r0, r1 - r0, y, yAt, bias, biasAt, round);
    }
    free(ox);
    free(oy);
}

/*
 * The index of the largest of x[0..n), as ATen's argmax picks it: the first of equal values, and a NaN above every
 * number (the first NaN). One compare per value in the common case: !(v <= m) holds for a larger v and for a NaN.
 */
static long argmax_f32(const float *x, long n) {
    long best = 0;
    float m = x[0];
    if (m != m) {
        return 0;
    }
    for (long i = 1; i < n; i++) {
        float v = x[i];
        if (!(v <= m)) {
            if (v != v) {
                return i;
            }
            m = v;
            best = i;
        }
    }
    return best;
}

/* As argmax_f32 over bfloat16 values (the high halves of float32s). */
static long argmax_bf16(const uint16_t *x, long n) {
    long best = 0;
    float m = bf16_even(x[0]);
    if (m != m) {
        return 0;
    }
    for (long i = 1; i < n; i++) {
        float v = bf16_even(x[i]);
        if (!(v <= m)) {
            if (v != v) {
                return i;
            }
            m = v;
            best = i;
        }
    }
    return best;
}

/*
 * NativeRows.argmax(ByteBuffer x, int rows, int cols, boolean bf16, long[] out): out[r] = the argmax of row r of x
 * (rows, cols), float32 or bfloat16, contiguous from the buffer's start. The caller checks bounds, and cols >= 1.
 */
JNIEXPORT void JNICALL Java_dev_keel_model_NativeRows_argmax(JNIEnv *env, jclass cls, jobject x, jint rows, jint cols,
        jboolean bf16, jlongArray out) {
    (void)cls;
    const char *base = (*env)->GetDirectBufferAddress(env, x);
    for (jint r = 0; r < rows; r++) {
        jlong i = bf16 ? argmax_bf16((const uint16_t *)base + (size_t)r * cols, cols)
                : argmax_f32((const float *)base + (size_t)r * cols, cols);
        (*env)->SetLongArrayRegion(env, out, r, 1, &i);
    }
}

/* NativeRows.isa(): which loop this CPU runs ("avx512f", "avx2" or "c"). */
JNIEXPORT jstring JNICALL Java_dev_keel_model_NativeRows_isa(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, isa);
}

/* NativeRows.use(String name): the loops named, for tests of each; false when this CPU does not run them. */
JNIEXPORT jboolean JNICALL Java_dev_keel_model_NativeRows_use(JNIEnv *env, jclass cls, jstring name) {
    (void)cls;
    const char *n = (*env)->GetStringUTFChars(env, name, NULL);
    if (n == NULL) {
        return JNI_FALSE;
    }
    int ok = choose(n);
    (*env)->ReleaseStringUTFChars(env, name, n);
    return ok ? JNI_TRUE : JNI_FALSE;
}
