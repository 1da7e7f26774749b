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
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>

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

/* The decoding step's loops (below, with the step) that come in the same three builds. */
typedef void (*accumulate_fn)(int bf16, const void *v, int hd, const float *p, int n, float *acc);
typedef void (*exp_fn)(float *x, int n);
__attribute__((target("avx512f"))) static void step_accumulate_512(int bf16, const void *v, int hd, const float *p,
        int n, float *acc);
__attribute__((target("avx2,fma"))) static void step_accumulate_256(int bf16, const void *v, int hd, const float *p,
        int n, float *acc);
static void step_accumulate_c(int bf16, const void *v, int hd, const float *p, int n, float *acc);
__attribute__((target("avx512f"))) static void step_exp_512(float *x, int n);
__attribute__((target("avx2,fma"))) static void step_exp_256(float *x, int n);
static void step_exp_c(float *x, int n);

static bf16_rows_fn bf16_rows = bf16_rows_c;
static f32_rows_fn f32_rows = f32_rows_c;
static accumulate_fn step_accumulate = step_accumulate_c;
static exp_fn step_exp = step_exp_c;
static const char *isa = "c";

/* Switches to the loops named ("avx512f", "avx2" or "c") if this CPU runs them; returns whether it did. */
static int choose(const char *name) {
    if (strcmp(name, "avx512f") == 0 && __builtin_cpu_supports("avx512f")) {
        bf16_rows = bf16_rows_512;
        f32_rows = f32_rows_512;
        step_accumulate = step_accumulate_512;
        step_exp = step_exp_512;
        isa = "avx512f";
    } else if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        bf16_rows = bf16_rows_256;
        f32_rows = f32_rows_256;
        step_accumulate = step_accumulate_256;
        step_exp = step_exp_256;
        isa = "avx2";
    } else if (strcmp(name, "c") == 0) {
        bf16_rows = bf16_rows_c;
        f32_rows = f32_rows_c;
        step_accumulate = step_accumulate_c;
        step_exp = step_exp_c;
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

/* The 16 bits of f rounded to bfloat16 (round_bf16): what a bfloat16 tensor holds. */
static inline uint16_t bf16_bits(float f) {
    float r = round_bf16(f);
    uint32_t b;
    memcpy(&b, &r, 4);
    return (uint16_t)(b >> 16);
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
                dst[r0 + i] = bf16_bits(out[i]);
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

/*
 * One token through a Llama-family decoder at batch 1, all in C (dev.keel.model.NativeStep): what LlamaJvmStep.step
 * computes on the JVM, with its roundings, run by the calling thread and the product helpers together. The helpers
 * stay in this function for the whole token and wait at spin barriers between the products; the JVM step hands each
 * of a token's 121 products (SmolLM2-135M) to its helpers and back, and does the work between them in Java on the
 * calling thread alone. In one JVM, the two steps taking turns by generation, a SmolLM2-135M bfloat16 token took a
 * median 7.0-7.3 ms here against 7.7-7.8 in Java (docs/PERFORMANCE.md, item 37).
 *
 * The model is described by a layout of 64-bit words in native memory (NativeStep.layout): the header below, then
 * STEP_LAYER words per layer: the addresses of its two norms' float32 weights, then four products (q/k/v, o, gate/up, down), each
 * the address of its float32 bias (0: none) and up to three (weight, rows) pieces stacked in its output (rows 0: no
 * more pieces). Every address points into memory the caller keeps alive.
 */
enum {
    STEP_BF16, STEP_D, STEP_HEADS, STEP_KV_HEADS, STEP_HD, STEP_FF, STEP_LAYERS, STEP_EPS, STEP_SCALE, STEP_EMBED,
    STEP_NORM, STEP_INV_FREQ, STEP_HEADER = 16, STEP_PRODUCT = 7, STEP_LAYER = 2 + 4 * STEP_PRODUCT
};

#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")   /* as Java: no product and sum fused unless written as fmaf */

/*
 * The threads' meeting point, at the start of a step's scratch. `abort` (byte STEP_ABORT_BYTE, NativeStep.ABORT_BYTE)
 * is set by a thread that failed on the JVM's side before reaching the step, so that the others stop waiting for it.
 */
typedef struct {
    _Atomic int arrived;
    char pad[60];
    _Atomic int generation;
    char pad2[60];
    _Atomic int abort;
    char pad3[60];
} step_barrier;

#define STEP_ABORT_BYTE 128
_Static_assert(offsetof(step_barrier, abort) == STEP_ABORT_BYTE, "NativeStep.ABORT_BYTE");

/*
 * Waits until all n threads have arrived (n < 2: returns at once); *seen is this thread's count of barriers passed.
 * Returns 0, or -1 when another thread gave up (abort): the step is then abandoned, its barrier left unusable.
 */
static int step_wait(step_barrier *b, int n, int *seen) {
    if (n < 2) {
        return 0;
    }
    int g = *seen;
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == n - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->generation, g + 1, memory_order_release);
    } else {
        while (atomic_load_explicit(&b->generation, memory_order_acquire) == g) {
            if (atomic_load_explicit(&b->abort, memory_order_relaxed)) {
                return -1;
            }
            _mm_pause();
        }
    }
    *seen = g + 1;
    return 0;
}

/* Most threads a step runs on (Bf16Mv.MAX_THREADS). */
#define STEP_THREADS 4

/*
 * The scratch of a step: the barrier, each thread's rows of the current product not yet read (a cache line each),
 * then each vector on a cache line of its own; the per-thread vectors (a query's halves, the attention's sums) once
 * per thread.
 */
typedef struct {
    step_barrier *barrier;
    _Atomic uint64_t *ranges;
    float *h, *a, *qkv, *att, *o, *gu, *gated, *xe, *xo, *cos, *sin;
    float *qe[STEP_THREADS], *qo[STEP_THREADS], *acc[STEP_THREADS];
} step_scratch;

static size_t step_floats(size_t n) {
    return (n + 15) / 16 * 16;
}

/* Bytes of scratch a step of this layout needs; with base given, the scratch's parts laid out from base. */
static size_t step_scratch_bytes(const jlong *l, step_scratch *s, char *base) {
    size_t d = l[STEP_D], hd = l[STEP_HD], heads = l[STEP_HEADS], kv = l[STEP_KV_HEADS], ff = l[STEP_FF];
    size_t widest = d > heads * hd ? d : heads * hd;
    widest = widest > ff ? widest : ff;
    size_t sizes[] = {d, d, (heads + 2 * kv) * hd, heads * hd, d, 2 * ff, ff, widest / 2 + 1, widest / 2 + 1, hd, hd};
    float **slots[] = {&s->h, &s->a, &s->qkv, &s->att, &s->o, &s->gu, &s->gated, &s->xe, &s->xo, &s->cos, &s->sin};
    size_t at = sizeof(step_barrier);
    s->barrier = (step_barrier *)base;
    s->ranges = base == NULL ? NULL : (_Atomic uint64_t *)(base + at);
    at += 64 * STEP_THREADS;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        *slots[i] = base == NULL ? NULL : (float *)(base + at);
        at += 4 * step_floats(sizes[i]);
    }
    for (int t = 0; t < STEP_THREADS; t++) {
        float **mine[] = {&s->qe[t], &s->qo[t], &s->acc[t]};
        size_t n[] = {hd / 2 + 1, hd / 2 + 1, hd};
        for (int i = 0; i < 3; i++) {
            *mine[i] = base == NULL ? NULL : (float *)(base + at);
            at += 4 * step_floats(n[i]);
        }
    }
    return at;
}

static inline float step_round(int bf16, float f) {
    return bf16 ? round_bf16(f) : f;
}

static inline float step_read(int bf16, const void *p, size_t i) {
    return bf16 ? bf16_even(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void step_write(int bf16, void *p, size_t i, float f) {
    if (bf16) {
        ((uint16_t *)p)[i] = bf16_bits(f);
    } else {
        ((float *)p)[i] = f;
    }
}

/* RMSNorm as LlamaJvmStep.norm: the squares summed in double, each of the two products rounded. */
static void step_norm(int bf16, const float *x, const float *weight, float *out, int d, float eps) {
    double sum = 0;
    for (int k = 0; k < d; k++) {
        float sq = x[k] * x[k];
        sum += sq;
    }
    float r = (float)(1.0 / sqrt((double)((float)((float)(sum / d) + eps))));
    for (int k = 0; k < d; k++) {
        out[k] = step_round(bf16, weight[k] * step_round(bf16, x[k] * r));
    }
}

/* x's elements k0 .. k1 into the even and odd halves the bfloat16 kernels read (k0 and k1 even). */
static void step_halves(const float *x, float *xe, float *xo, int k0, int k1) {
    for (int k = k0; k < k1; k += 2) {
        xe[k / 2] = x[k];
        xo[k / 2] = x[k + 1];
    }
}

/*
 * Rows r0 .. r1 of the product described at p (a bias, then (weight, rows) pieces) times x (its halves xe and xo
 * for bfloat16): each row's sum plus its bias, rounded to bfloat16 for bfloat16 weights, at out[row].
 */
static void step_rows(const jlong *p, int bf16, int cols, const float *x, const float *xe, const float *xo, float *out,
        int r0, int r1) {
    const float *bias = (const float *)(intptr_t)p[0];
    int at = 0;
    for (int piece = 0; piece < 3; piece++) {
        const void *w = (const void *)(intptr_t)p[1 + 2 * piece];
        int rows = (int)p[2 + 2 * piece];
        if (rows == 0) {
            break;
        }
        int a = r0 > at ? r0 : at;
        int b = r1 < at + rows ? r1 : at + rows;
        if (a < b) {
            if (bf16) {
                bf16_rows((const int32_t *)w, cols, xe, xo, out + a, a - at, b - at);
            } else {
                f32_rows((const float *)w, cols, x, out + a, a - at, b - at);
            }
            for (int r = a; r < b; r++) {
                out[r] = step_round(bf16, bias == NULL ? out[r] : out[r] + bias[r]);
            }
        }
        at += rows;
    }
}

/* This thread's share [*r0, *r1) of n items split between threads as evenly as they go. */
static void step_share(int n, int t, int threads, int *r0, int *r1) {
    *r0 = (int)((long)n * t / threads);
    *r1 = (int)((long)n * (t + 1) / threads);
}

/*
 * A thread takes an STEP_OWN-th of the rows left in its own share at a time, at least STEP_LEAST (fewer, smaller takes
 * near the end, so that another thread finds rows to take over); from another's share, half of what is left.
 */
#define STEP_OWN 8
#define STEP_LEAST 2

static inline uint64_t step_range(uint32_t lo, uint32_t hi) {
    return (uint64_t)hi << 32 | lo;
}

/* Each thread's share of a product's n rows, as step_share gives it, for step_take (the calling thread's, before a barrier). */
static void step_deal(_Atomic uint64_t *ranges, int n, int threads) {
    for (int t = 0; t < threads; t++) {
        int r0, r1;
        step_share(n, t, threads, &r0, &r1);
        atomic_store_explicit(&ranges[8 * t], step_range((uint32_t)r0, (uint32_t)r1), memory_order_relaxed);
    }
}

/*
 * The next rows [*r0, *r1) for thread t, in multiples of `grain` rows where there are enough: from the front of its
 * own share while it lasts, then from the back of the share with the most rows left (work stealing); 0 when every row
 * is taken. Each thread reads its own share
 * in order, one stream through memory; a thread that runs behind (a slow start, a busy core) is helped at the end.
 * Rows taken in chunks from a common counter instead read 13% slower at the SmolLM2-135M shape (two threads'
 * streams interleaved; docs/PERFORMANCE.md, item 37). Which thread reads a row does not change its sum.
 */
static int step_take(_Atomic uint64_t *ranges, int t, int threads, uint32_t grain, int *r0, int *r1) {
    uint32_t least = grain > STEP_LEAST ? grain : STEP_LEAST;
    _Atomic uint64_t *own = &ranges[8 * t];
    uint64_t v = atomic_load_explicit(own, memory_order_relaxed);
    while ((uint32_t)v < (uint32_t)(v >> 32)) {
        uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
        uint32_t take = (hi - lo) / STEP_OWN / grain * grain;
        take = take >= least ? take : (hi - lo < least ? hi - lo : least);
        if (atomic_compare_exchange_weak_explicit(own, &v, step_range(lo + take, hi), memory_order_relaxed,
                memory_order_relaxed)) {
            *r0 = (int)lo;
            *r1 = (int)(lo + take);
            return 1;
        }
    }
    for (;;) {
        int victim = -1;
        uint32_t most = 0;
        uint64_t seen = 0;
        for (int u = 0; u < threads; u++) {
            uint64_t w = atomic_load_explicit(&ranges[8 * u], memory_order_relaxed);
            uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
            if (u != t && hi > lo && hi - lo > most) {
                most = hi - lo;
                victim = u;
                seen = w;
            }
        }
        if (victim < 0) {
            return 0;
        }
        uint32_t lo = (uint32_t)seen, hi = (uint32_t)(seen >> 32);
        uint32_t take = most / 2 / grain * grain;
        take = take > 0 ? take : (most < grain ? most : grain);
        if (atomic_compare_exchange_strong_explicit(&ranges[8 * victim], &seen, step_range(lo, hi - take),
                memory_order_relaxed, memory_order_relaxed)) {
            *r0 = (int)(hi - take);
            *r1 = (int)hi;
            return 1;
        }
    }
}

/* Thread t's part of every row of the product at p, dealt by step_deal. */
static void step_product(const jlong *p, _Atomic uint64_t *ranges, int t, int threads, int bf16, int cols,
        const float *x, const float *xe, const float *xo, float *out) {
    int r0, r1;
    /* the float32 loops read ROW_BLOCK rows at a time: takes of whole blocks where there are enough rows */
    uint32_t grain = bf16 ? 1 : ROW_BLOCK;
    while (step_take(ranges, t, threads, grain, &r0, &r1)) {
        step_rows(p, bf16, cols, x, xe, xo, out, r0, r1);
    }
}

/*
 * acc[k] = sum over s < n of p[s] v[s, k] for k from k0 to hd, fused multiply-adds in order of s (as Bf16MvKernel and
 * StepKernel's accumulate); the columns the vector loops below leave, or all of them.
 */
static void step_accumulate_from(int bf16, const void *v, int hd, const float *p, int n, float *acc, int k0) {
    for (int k = k0; k < hd; k++) {
        float a = 0;
        for (int s = 0; s < n; s++) {
            a = fmaf(p[s], step_read(bf16, v, (size_t)s * hd + k), a);
        }
        acc[k] = a;
    }
}

/* As step_accumulate_from, every column. */
static void step_accumulate_c(int bf16, const void *v, int hd, const float *p, int n, float *acc) {
    step_accumulate_from(bf16, v, hd, p, n, acc, 0);
}

/* As step_accumulate_from, every column, 16 at a time. */
__attribute__((target("avx512f")))
static void step_accumulate_512(int bf16, const void *v, int hd, const float *p, int n, float *acc) {
    int upper = hd - hd % 16;
    for (int k = 0; k < upper; k += 16) {
        __m512 a = _mm512_setzero_ps();
        for (int s = 0; s < n; s++) {
            __m512 x = bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(
                                  _mm256_loadu_si256((const __m256i *)((const uint16_t *)v + (size_t)s * hd + k))), 16))
                            : _mm512_loadu_ps((const float *)v + (size_t)s * hd + k);
            a = _mm512_fmadd_ps(_mm512_set1_ps(p[s]), x, a);
        }
        _mm512_storeu_ps(acc + k, a);
    }
    step_accumulate_from(bf16, v, hd, p, n, acc, upper);
}

/* As step_accumulate_from, every column, 8 at a time. */
__attribute__((target("avx2,fma")))
static void step_accumulate_256(int bf16, const void *v, int hd, const float *p, int n, float *acc) {
    int upper = hd - hd % 8;
    for (int k = 0; k < upper; k += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int s = 0; s < n; s++) {
            __m256 x = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
                                  _mm_loadu_si128((const __m128i *)((const uint16_t *)v + (size_t)s * hd + k))), 16))
                            : _mm256_loadu_ps((const float *)v + (size_t)s * hd + k);
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[s]), x, a);
        }
        _mm256_storeu_ps(acc + k, a);
    }
    step_accumulate_from(bf16, v, hd, p, n, acc, upper);
}


/* glibc's vector expf (libmvec), as the compiler calls it for a vectorised loop of expf. */
__m512 _ZGVeN16v_expf(__m512 x);
__m256 _ZGVdN8v_expf(__m256 x);

/*
 * x[i] = exp(x[i]) for i < n: glibc's vector expf, 16 or 8 values at a time, the last ones masked, so that every value
 * goes through the same function wherever it sits (and a thread's share of a vector gives the same bits as the whole).
 */
__attribute__((target("avx512f")))
static void step_exp_512(float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, _ZGVeN16v_expf(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

__attribute__((target("avx2,fma")))
static void step_exp_256(float *x, int n) {
    for (int i = 0; i < n; i += 8) {
        int left = n - i < 8 ? n - i : 8;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(x + i, m, _ZGVdN8v_expf(_mm256_maskload_ps(x + i, m)));
    }
}

static void step_exp_c(float *x, int n) {
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i]);
    }
}

/* The head at x rotated in place: x cos + rotate_half(x) sin, each product of the first term rounded. */
static void step_rotate(int bf16, float *x, int hd, const step_scratch *s) {
    int half = hd / 2;
    for (int j = 0; j < half; j++) {
        float x1 = x[j], x2 = x[j + half];
        x[j] = step_round(bf16, step_round(bf16, x1 * s->cos[j]) + x2 * s->sin[j]);
        x[j + half] = step_round(bf16, step_round(bf16, x2 * s->cos[j + half]) + x1 * s->sin[j + half]);
    }
}

/* Layer i's cache: its keys' and values' addresses, capacity and positions filled before this token's. */
typedef struct {
    char *keys, *values;
    size_t cap;
    int filled;
} step_cache;

static step_cache step_layer_cache(const jlong *cache, int i) {
    step_cache c = {(char *)(intptr_t)cache[4 * i], (char *)(intptr_t)cache[4 * i + 1], (size_t)cache[4 * i + 2],
                    (int)cache[4 * i + 3]};
    return c;
}

/* Thread t's key/value heads of layer i: each key rotated, then the new key and value written into the cache. */
static void step_keys(const jlong *l, const jlong *cache, int i, step_scratch *s, int t, int threads) {
    int bf16 = (int)l[STEP_BF16], heads = (int)l[STEP_HEADS], kvHeads = (int)l[STEP_KV_HEADS], hd = (int)l[STEP_HD];
    step_cache c = step_layer_cache(cache, i);
    int qDim = heads * hd, kvDim = kvHeads * hd;
    int g0, g1;
    step_share(kvHeads, t, threads, &g0, &g1);
    for (int g = g0; g < g1; g++) {
        step_rotate(bf16, s->qkv + qDim + g * hd, hd, s);
        size_t row = ((size_t)g * c.cap + c.filled) * hd;
        for (int j = 0; j < hd; j++) {
            step_write(bf16, c.keys, row + j, s->qkv[qDim + g * hd + j]);
            step_write(bf16, c.values, row + j, s->qkv[qDim + kvDim + g * hd + j]);
        }
    }
}

/*
 * Thread t's query heads of layer i, after every key and value is in the cache: each query rotated, then
 * softmax(q k^T * scale) v over the filled + 1 positions in float32, rounded, into s->att (and its halves, for
 * bfloat16). scores has room for filled + 1 floats, this thread's own.
 */
static void step_queries(const jlong *l, const jlong *cache, int i, step_scratch *s, float *scores, int t, int threads) {
    int bf16 = (int)l[STEP_BF16], heads = (int)l[STEP_HEADS], kvHeads = (int)l[STEP_KV_HEADS], hd = (int)l[STEP_HD];
    float scale;
    int32_t sb = (int32_t)l[STEP_SCALE];
    memcpy(&scale, &sb, 4);
    step_cache c = step_layer_cache(cache, i);
    int n = c.filled + 1;
    int group = heads / kvHeads;
    size_t elem = bf16 ? 2 : 4;
    int h0, h1;
    step_share(heads, t, threads, &h0, &h1);
    for (int head = h0; head < h1; head++) {
        const char *k = c.keys + elem * (size_t)(head / group) * c.cap * hd;
        const char *v = c.values + elem * (size_t)(head / group) * c.cap * hd;
        float *q = s->qkv + head * hd;
        step_rotate(bf16, q, hd, s);
        if (bf16) {
            step_halves(q, s->qe[t], s->qo[t], 0, hd);
            bf16_rows((const int32_t *)k, hd, s->qe[t], s->qo[t], scores, 0, n);
        } else {
            f32_rows((const float *)k, hd, q, scores, 0, n);
        }
        float max = -INFINITY;
        for (int j = 0; j < n; j++) {
            scores[j] *= scale;
            max = scores[j] != scores[j] || max != max ? NAN : (scores[j] > max ? scores[j] : max);
        }
        for (int j = 0; j < n; j++) {
            scores[j] -= max;
        }
        step_exp(scores, n);
        float sum = 0;
        for (int j = 0; j < n; j++) {
            sum += scores[j];
        }
        float *acc = s->acc[t];
        step_accumulate(bf16, v, hd, scores, n, acc);
        for (int j = 0; j < hd; j++) {
            s->att[head * hd + j] = step_round(bf16, acc[j] / sum);
        }
        if (bf16) {
            step_halves(s->att, s->xe, s->xo, head * hd, (head + 1) * hd);
        }
    }
}

/* cos and the signed sin at `position` (RotaryEmbedding.cosSin), rounded to bfloat16 for bfloat16 weights. */
static void step_rotary(const jlong *l, long position, step_scratch *s) {
    int bf16 = (int)l[STEP_BF16], half = (int)l[STEP_HD] / 2;
    const float *invFreq = (const float *)(intptr_t)l[STEP_INV_FREQ];
    float pos = (float)position;
    for (int i = 0; i < half; i++) {
        float angle = pos * invFreq[i];
        float c = step_round(bf16, (float)cos(angle));
        float sn = step_round(bf16, (float)sin(angle));
        s->cos[i] = c;
        s->cos[i + half] = c;
        s->sin[i] = -sn;
        s->sin[i + half] = sn;
    }
}

/*
 * The step on thread t of `threads` (thread 0 the caller; every thread calls this with the same arguments): token
 * `id` at `position` through every layer, the final norm's output written to `out` in the weights' dtype. The
 * calling thread does the norms and residual sums between the products; the threads share the products (step_take),
 * the attention (the new keys and values by head, then the queries by head) and SiLU.
 */
static void step_run(const jlong *l, const jlong *cache, jlong id, jlong position, void *out, char *scratch,
        float *scores, int t, int threads) {
    step_scratch s;
    step_scratch_bytes(l, &s, scratch);
    int bf16 = (int)l[STEP_BF16], d = (int)l[STEP_D], hd = (int)l[STEP_HD], ff = (int)l[STEP_FF];
    int heads = (int)l[STEP_HEADS], kvHeads = (int)l[STEP_KV_HEADS], layers = (int)l[STEP_LAYERS];
    float eps;
    int32_t eb = (int32_t)l[STEP_EPS];
    memcpy(&eps, &eb, 4);
    int qDim = heads * hd, qkvRows = (heads + 2 * kvHeads) * hd;
    int seen = atomic_load_explicit(&s.barrier->generation, memory_order_acquire);
#define STEP_WAIT() do { if (step_wait(s.barrier, threads, &seen) != 0) { return; } } while (0)
    if (t == 0) {
        const void *embed = (const void *)(intptr_t)l[STEP_EMBED];
        for (int k = 0; k < d; k++) {
            s.h[k] = step_read(bf16, embed, (size_t)id * d + k);
        }
        step_rotary(l, (long)position, &s);
    }
    for (int i = 0; i < layers; i++) {
        const jlong *layer = l + STEP_HEADER + (size_t)i * STEP_LAYER;
        const jlong *products = layer + 2;
        if (t == 0) {
            step_norm(bf16, s.h, (const float *)(intptr_t)layer[0], s.a, d, eps);
            if (bf16) {
                step_halves(s.a, s.xe, s.xo, 0, d);
            }
            step_deal(s.ranges, qkvRows, threads);
        }
        STEP_WAIT();
        step_product(products, s.ranges, t, threads, bf16, d, s.a, s.xe, s.xo, s.qkv);
        STEP_WAIT();
        step_keys(l, cache, i, &s, t, threads);
        STEP_WAIT();
        step_queries(l, cache, i, &s, scores, t, threads);
        if (t == 0) {
            step_deal(s.ranges, d, threads);
        }
        STEP_WAIT();
        step_product(products + STEP_PRODUCT, s.ranges, t, threads, bf16, qDim, s.att, s.xe, s.xo, s.o);
        STEP_WAIT();
        if (t == 0) {
            for (int k = 0; k < d; k++) {
                s.h[k] = step_round(bf16, s.h[k] + s.o[k]);
            }
            step_norm(bf16, s.h, (const float *)(intptr_t)layer[1], s.a, d, eps);
            if (bf16) {
                step_halves(s.a, s.xe, s.xo, 0, d);
            }
            step_deal(s.ranges, 2 * ff, threads);
        }
        STEP_WAIT();
        step_product(products + 2 * STEP_PRODUCT, s.ranges, t, threads, bf16, d, s.a, s.xe, s.xo, s.gu);
        STEP_WAIT();
        /* SiLU(gate) * up, each thread its share of an even split (the halves are read in pairs) */
        int r0, r1;
        step_share(ff / 2, t, threads, &r0, &r1);
        for (int k = 2 * r0; k < 2 * r1; k++) {
            s.gated[k] = -s.gu[k];
        }
        step_exp(s.gated + 2 * r0, 2 * (r1 - r0));
        for (int k = 2 * r0; k < 2 * r1; k++) {
            float silu = s.gu[k] / (1.0f + s.gated[k]);
            s.gated[k] = step_round(bf16, step_round(bf16, silu) * s.gu[ff + k]);
        }
        if (bf16) {
            step_halves(s.gated, s.xe, s.xo, 2 * r0, 2 * r1);
        }
        if (t == 0) {
            step_deal(s.ranges, d, threads);
        }
        STEP_WAIT();
        step_product(products + 3 * STEP_PRODUCT, s.ranges, t, threads, bf16, ff, s.gated, s.xe, s.xo, s.o);
        STEP_WAIT();
        if (t == 0) {
            for (int k = 0; k < d; k++) {
                s.h[k] = step_round(bf16, s.h[k] + s.o[k]);
            }
        }
    }
    if (t == 0) {
        step_norm(bf16, s.h, (const float *)(intptr_t)l[STEP_NORM], s.a, d, eps);
        for (int k = 0; k < d; k++) {
            step_write(bf16, out, k, s.a[k]);
        }
    }
#undef STEP_WAIT
}

#pragma GCC pop_options

/* NativeStep.scratchBytes(ByteBuffer layout): bytes of scratch a step of this layout needs. */
JNIEXPORT jlong JNICALL Java_dev_keel_model_NativeStep_scratchBytes(JNIEnv *env, jclass cls, jobject layout) {
    (void)cls;
    step_scratch s;
    return (jlong)step_scratch_bytes((const jlong *)(*env)->GetDirectBufferAddress(env, layout), &s, NULL);
}

/*
 * NativeStep.run(ByteBuffer layout, ByteBuffer cache, long id, long position, ByteBuffer out, ByteBuffer scratch,
 * ByteBuffer scores, int stride, int thread, int threads): step_run. cache holds four words per layer (keys' and
 * values' addresses, capacity, positions filled); scores has room for `threads` runs of `stride` floats, each at least
 * filled + 1, one a thread; the caller checks both.
 */
JNIEXPORT void JNICALL Java_dev_keel_model_NativeStep_run(JNIEnv *env, jclass cls, jobject layout, jobject cache, jlong id,
        jlong position, jobject out, jobject scratch, jobject scores, jint stride, jint thread, jint threads) {
    (void)cls;
    if (threads < 1 || threads > STEP_THREADS || thread < 0 || thread >= threads) {
        return;   /* NativeStep never asks this (its threads are at most Bf16Mv.MAX_THREADS = STEP_THREADS) */
    }
    step_run((const jlong *)(*env)->GetDirectBufferAddress(env, layout),
            (const jlong *)(*env)->GetDirectBufferAddress(env, cache), id, position,
            (*env)->GetDirectBufferAddress(env, out), (char *)(*env)->GetDirectBufferAddress(env, scratch),
            (float *)(*env)->GetDirectBufferAddress(env, scores) + (size_t)thread * stride, thread, threads);
}
