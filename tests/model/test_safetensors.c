/* safetensors reader/writer and the atomic file layer: round trips, 30+ malformed files,
 * truncation and corruption sweeps, injected I/O faults (the old file must survive
 * byte-for-byte and no temporary file may remain), failing allocations.
 *
 * Also a helper for the Python interoperability check (check_safetensors_torch.py):
 *   test_safetensors --write-sample PATH   writes the sample file
 *   test_safetensors --check-sample PATH   verifies a sample file written by Python */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "safetensors.h"

static char dir[64]; /* this run's temporary directory */

static const char *in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void put_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        printf("cannot write %s\n", path);
        exit(1);
    }
}

/* Whole file in a malloc'd buffer (NULL if it cannot be read); *n is its size. */
static unsigned char *get_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            unsigned char *b2 = realloc(buf, cap);
            if (b2 == NULL) {
                free(buf);
            }
            buf = b2;
        }
    }
    fclose(f);
    *n = len;
    return buf;
}

/* Number of entries of the temporary directory whose name contains ".tmp.". */
static int count_tmp(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        n += strstr(e->d_name, ".tmp.") != NULL;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static int msg_has(lam_ctx *ctx, const char *needle)
{
    return strstr(lam_ctx_errmsg(ctx), needle) != NULL;
}

/* ----------------------------------------------------------- round trip */

enum { N_RT = 11 };
static float rt_w[6], rt_big[50000], rt_scalar = 3.25f;
static double rt_d[4] = {1.0 / 3.0, -2.5, 1e300, -0.0};
static int64_t rt_i64[3] = {-1, INT64_MAX, INT64_MIN};
static int32_t rt_i32[4] = {1, -2, 3, INT32_MIN};
static uint8_t rt_u8[5] = {0, 1, 127, 128, 255};
static uint16_t rt_bf[3] = {0x3f80, 0xc000, 0x7fc0};
static uint8_t rt_bool[2] = {1, 0};

static void rt_entries(lam_st_entry *e)
{
    for (int i = 0; i < 6; i++) {
        rt_w[i] = 0.5f * (float)i - 1.0f;
    }
    t_fill_uniform(rt_big, 50000, -1.0f, 1.0f, 7, 1);
    const lam_st_entry list[N_RT] = {
        {"fc.weight", LAM_ST_F32, 2, {2, 3}, rt_w},
        {"bool", LAM_ST_BOOL, 1, {2}, rt_bool},
        {"u8", LAM_ST_U8, 1, {5}, rt_u8},
        {"d", LAM_ST_F64, 1, {4}, rt_d},
        {"bf", LAM_ST_BF16, 1, {3}, rt_bf},
        {"i64", LAM_ST_I64, 1, {3}, rt_i64},
        {"i32", LAM_ST_I32, 2, {2, 2}, rt_i32},
        {"empty", LAM_ST_F32, 2, {0, 3}, NULL},
        {"scalar", LAM_ST_F32, 0, {0}, &rt_scalar},
        {"big", LAM_ST_F32, 3, {10, 50, 100}, rt_big},
        {"ünï.çødé", LAM_ST_F32, 1, {2}, rt_w},
    };
    memcpy(e, list, sizeof list);
}

static const char *const rt_keys[3] = {"format", "lamina.step", "note"};
static const char *const rt_vals[3] = {"pt", "1234", "héllo ✓ \"quoted\"\n"};

/* Every tensor and metadata entry of f equals what rt_entries() wrote. */
static void check_rt(lam_ctx *ctx, const lam_st_file *f, const char *what)
{
    lam_st_entry e[N_RT];
    rt_entries(e);
    T_CHECK(lam__st_count(f) == N_RT, "%s: %d tensors", what, lam__st_count(f));
    for (int i = 0; i < N_RT; i++) {
        const lam_st_tensor *t = lam__st_find(f, e[i].name);
        if (!T_CHECK(t != NULL, "%s: tensor %s found", what, e[i].name)) {
            continue;
        }
        int64_t size = lam__st_dtype_size(e[i].dtype), numel = 1;
        int same = t->dtype == e[i].dtype && t->ndim == e[i].ndim;
        for (int d = 0; d < e[i].ndim; d++) {
            same = same && t->shape[d] == e[i].shape[d];
            numel *= e[i].shape[d];
        }
        T_CHECK(same && t->numel == numel && t->nbytes == numel * size,
                "%s: %s dtype/shape/size", what, e[i].name);
        T_CHECK(numel == 0 ? t->data == NULL
                           : memcmp(t->data, e[i].data, (size_t)(numel * size)) == 0,
                "%s: %s bytes", what, e[i].name);
        T_CHECK((uintptr_t)t->data % (uintptr_t)size == 0, "%s: %s aligned", what, e[i].name);
    }
    for (int i = 1; i < lam__st_count(f); i++) {
        T_CHECK(strcmp(lam__st_at(f, i - 1)->name, lam__st_at(f, i)->name) < 0,
                "%s: name order", what);
    }
    T_CHECK(lam__st_at(f, -1) == NULL && lam__st_at(f, N_RT) == NULL, "%s: at() range", what);
    T_CHECK(lam__st_find(f, "nope") == NULL && lam__st_find(f, "__metadata__") == NULL,
            "%s: missing names", what);
    T_CHECK(lam__st_meta_count(f) == 3, "%s: meta count", what);
    for (int i = 0; i < 3; i++) {
        const char *v = lam__st_meta(f, rt_keys[i]), *v2 = NULL;
        T_CHECK(v != NULL && strcmp(v, rt_vals[i]) == 0, "%s: meta %s", what, rt_keys[i]);
        const char *k = lam__st_meta_at(f, i, &v2);
        T_CHECK(k != NULL && strcmp(k, rt_keys[i]) == 0 && v2 != NULL &&
                strcmp(v2, rt_vals[i]) == 0, "%s: meta_at %d", what, i);
    }
    T_CHECK(lam__st_meta(f, "absent") == NULL && lam__st_meta_at(f, 3, NULL) == NULL,
            "%s: absent meta", what);
    float w[6] = {0};
    int64_t shape[2] = {2, 3}, bad[2] = {3, 2};
    T_CHECK(lam__st_copy(ctx, f, "fc.weight", LAM_ST_F32, 2, shape, w, sizeof w) == LAM_OK &&
            memcmp(w, rt_w, sizeof w) == 0, "%s: copy", what);
    T_CHECK(lam__st_copy(ctx, f, "fc.weight", LAM_ST_F32, 2, bad, w, sizeof w) ==
            LAM_ERR_SHAPE && msg_has(ctx, "[2, 3], expected [3, 2]"), "%s: copy shape", what);
    T_CHECK(lam__st_copy(ctx, f, "fc.weight", LAM_ST_F64, 2, shape, w, sizeof w) ==
            LAM_ERR_FORMAT && msg_has(ctx, "is F32, expected F64"), "%s: copy dtype", what);
    T_CHECK(lam__st_copy(ctx, f, "fc.w", LAM_ST_F32, 2, shape, w, sizeof w) == LAM_ERR_FORMAT &&
            msg_has(ctx, "no tensor 'fc.w'"), "%s: copy missing", what);
    T_CHECK(lam__st_copy(ctx, f, "fc.weight", LAM_ST_F32, 2, shape, w, 20) == LAM_ERR_SHAPE,
            "%s: copy size", what);
}

static void test_round_trip(void)
{
    t_alloc c = {0};
    lam_ctx *ctx = t_ctx_counting(&c);
    char path[128];
    in_dir(path, sizeof path, "rt.safetensors");
    lam_st_entry e[N_RT];
    rt_entries(e);
    lam_status st = lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, NULL);
    T_CHECK(st == LAM_OK, "write: %s", lam_ctx_errmsg(ctx));
    T_CHECK(c.live == 1, "write frees what it allocates (%lld live)", (long long)c.live);
    lam_st_file *f = NULL;
    st = lam__st_open(ctx, path, &f);
    T_CHECK(st == LAM_OK && f != NULL, "open: %s", lam_ctx_errmsg(ctx));
    if (f != NULL) {
        check_rt(ctx, f, "file");
        T_CHECK(strcmp(lam__st_path(f), path) == 0, "path kept");
    }
    lam__st_close(ctx, f);
    lam__st_close(ctx, NULL);
    T_CHECK(c.live == 1, "close frees everything (%lld live)", (long long)c.live);

    size_t n = 0;
    unsigned char *img = get_file(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; img != NULL && n >= 8 && i >= 0; i--) {
        hlen = hlen << 8 | img[i];
    }
    T_CHECK(img != NULL && hlen % 8 == 0 && hlen + 8 < n && img[8] == '{',
            "header padded to 8 and starts with '{'");
    f = NULL;
    st = lam__st_open_mem(ctx, "image", img, (int64_t)n, &f);
    T_CHECK(st == LAM_OK, "open_mem: %s", lam_ctx_errmsg(ctx));
    if (f != NULL) {
        check_rt(ctx, f, "mem");
    }
    lam__st_close(ctx, f);
    free(img);
    T_CHECK(count_tmp() == 0, "no temporary file after writes");

    /* no tensors, no metadata: "{}" */
    st = lam__st_write(ctx, path, NULL, 0, NULL, NULL, 0, NULL);
    f = NULL;
    T_CHECK(st == LAM_OK && lam__st_open(ctx, path, &f) == LAM_OK && lam__st_count(f) == 0 &&
            lam__st_meta_count(f) == 0, "empty file round trip: %s", lam_ctx_errmsg(ctx));
    lam__st_close(ctx, f);
    T_CHECK(c.live == 1, "no leak (%lld live)", (long long)c.live);
    lam_ctx_destroy(ctx);
}

/* --------------------------------------------------------- writer errors */

static void test_write_args(void)
{
    lam_ctx *ctx = t_ctx_counting(NULL);
    char path[128];
    in_dir(path, sizeof path, "args.safetensors");
    float x[4] = {0};
    const struct {
        lam_st_entry e[2];
        int n;
        lam_status want;
        const char *needle;
    } cases[] = {
        {{{"a", LAM_ST_F32, 1, {4}, x}, {"a", LAM_ST_F32, 1, {4}, x}}, 2, LAM_ERR_ARG,
         "duplicate tensor name 'a'"},
        {{{"__metadata__", LAM_ST_F32, 1, {4}, x}}, 1, LAM_ERR_ARG, "reserved"},
        {{{"a", 99, 1, {4}, x}}, 1, LAM_ERR_ARG, "unknown dtype 99"},
        {{{"a", LAM_ST_F32, 9, {4}, x}}, 1, LAM_ERR_ARG, "ndim 9"},
        {{{"a", LAM_ST_F32, 1, {-4}, x}}, 1, LAM_ERR_ARG, "shape[0] is -4"},
        {{{"a", LAM_ST_F32, 1, {4}, NULL}}, 1, LAM_ERR_ARG, "NULL data"},
        {{{"a\xff", LAM_ST_F32, 1, {4}, x}}, 1, LAM_ERR_ARG, "not UTF-8"},
        {{{"\xed\xa0\x80", LAM_ST_F32, 1, {4}, x}}, 1, LAM_ERR_ARG, "not UTF-8"}, /* surrogate */
        {{{"a", LAM_ST_F32, 2, {INT64_C(1) << 40, INT64_C(1) << 40}, x}}, 1, LAM_ERR_RANGE,
         "overflows"},
        {{{NULL, LAM_ST_F32, 1, {4}, x}}, 1, LAM_ERR_ARG, "NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lam_status st = lam__st_write(ctx, path, cases[i].e, cases[i].n, NULL, NULL, 0, NULL);
        T_CHECK(st == cases[i].want && msg_has(ctx, cases[i].needle),
                "write case %zu: status %d, message '%s'", i, st, lam_ctx_errmsg(ctx));
        T_CHECK(access(path, F_OK) != 0, "write case %zu created no file", i);
    }
    const char *k2[2] = {"k", "k"}, *v2[2] = {"1", "2"}, *bad[1] = {"\xc0\x80"};
    T_CHECK(lam__st_write(ctx, path, NULL, 0, k2, v2, 2, NULL) == LAM_ERR_ARG &&
            msg_has(ctx, "duplicate metadata key 'k'"), "duplicate metadata key");
    T_CHECK(lam__st_write(ctx, path, NULL, 0, bad, v2, 1, NULL) == LAM_ERR_ARG,
            "overlong UTF-8 metadata key");
    T_CHECK(lam__st_write(ctx, NULL, NULL, 0, NULL, NULL, 0, NULL) == LAM_ERR_ARG, "NULL path");
    T_CHECK(lam__st_write(ctx, path, NULL, 1, NULL, NULL, 0, NULL) == LAM_ERR_ARG, "NULL list");
    T_CHECK(access(path, F_OK) != 0 && count_tmp() == 0, "no file left by bad writes");
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------------------ bad files */

/* An image: 8-byte length of `json`, `json`, then `dlen` zero bytes. */
static unsigned char *image(const char *json, size_t dlen, size_t *n)
{
    size_t hl = strlen(json);
    *n = 8 + hl + dlen;
    unsigned char *b = calloc(1, *n);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    }
    memcpy(b + 8, json, hl);
    return b;
}

/* Write `b` as `name`, open it (and the same bytes from memory) and expect `want` with a
 * message holding the file name and `needle`. */
static void expect_bad(lam_ctx *ctx, const char *name, const unsigned char *b, size_t n,
                       lam_status want, const char *needle)
{
    char path[128];
    in_dir(path, sizeof path, name);
    put_file(path, b, n);
    lam_st_file *f = NULL;
    lam_status st = lam__st_open(ctx, path, &f);
    T_CHECK(st == want && f == NULL && msg_has(ctx, name) && msg_has(ctx, needle),
            "%s: status %d (want %d), message '%s' (want '%s')", name, st, want,
            lam_ctx_errmsg(ctx), needle);
    st = lam__st_open_mem(ctx, name, b, (int64_t)n, &f);
    T_CHECK(st == want && f == NULL && msg_has(ctx, needle), "%s from memory: '%s'", name,
            lam_ctx_errmsg(ctx));
    lam__st_close(ctx, f);
}

static void expect_bad_json(lam_ctx *ctx, const char *name, const char *json, size_t dlen,
                            const char *needle)
{
    size_t n;
    unsigned char *b = image(json, dlen, &n);
    expect_bad(ctx, name, b, n, LAM_ERR_FORMAT, needle);
    free(b);
}

#define T4 "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":"

static void test_bad_files(void)
{
    t_alloc c = {0};
    lam_ctx *ctx = t_ctx_counting(&c);
    const unsigned char five[5] = {1, 0, 0, 0, 0};
    expect_bad(ctx, "empty.st", five, 0, LAM_ERR_FORMAT, "0 bytes, too short");
    expect_bad(ctx, "short_len.st", five, 5, LAM_ERR_FORMAT, "too short");
    size_t n;
    unsigned char *b = image("{}", 0, &n);
    b[5] = 1; /* length 2^40 + 2 */
    expect_bad(ctx, "huge_len.st", b, n, LAM_ERR_FORMAT, "above the 100000000-byte limit");
    b[5] = 0;
    b[0] = 200;
    expect_bad(ctx, "len_gt_file.st", b, n, LAM_ERR_FORMAT, "exceeds the 2 bytes after it");
    free(b);
    unsigned char zero[8] = {0};
    expect_bad(ctx, "zero_len.st", zero, 8, LAM_ERR_FORMAT, "not a JSON object");

    /* cut a real file in its header and in its payload */
    char path[128];
    in_dir(path, sizeof path, "good.st");
    float x[4] = {1, 2, 3, 4};
    lam_st_entry e[2] = {{"a", LAM_ST_F32, 1, {4}, x}, {"b", LAM_ST_F32, 1, {4}, x}};
    T_CHECK(lam__st_write(ctx, path, e, 2, NULL, NULL, 0, NULL) == LAM_OK, "good file");
    unsigned char *good = get_file(path, &n);
    if (good != NULL) {
        expect_bad(ctx, "trunc_header.st", good, 30, LAM_ERR_FORMAT, "(truncated file?)");
        expect_bad(ctx, "trunc_payload.st", good, n - 4, LAM_ERR_FORMAT,
                   "end past the 28-byte data region (truncated file?)");
    }

    expect_bad_json(ctx, "bad_json.st", "{\"a\": " T4 "[0, 16]", 16, "invalid JSON header");
    expect_bad_json(ctx, "array.st", "[1, 2, 3]", 0, "not a JSON object");
    expect_bad_json(ctx, "space.st", " {}", 0, "not a JSON object");
    expect_bad_json(ctx, "dup.st", "{\"a\":" T4 "[0,16]},\"a\":" T4 "[0,16]}}", 16,
                    "duplicate object key");
    expect_bad_json(ctx, "dtype.st", "{\"a\":{\"dtype\":\"F33\",\"shape\":[4],"
                    "\"data_offsets\":[0,16]}}", 16, "tensor 'a': unknown dtype 'F33'");
    expect_bad_json(ctx, "dtype_num.st", "{\"a\":{\"dtype\":4,\"shape\":[4],"
                    "\"data_offsets\":[0,16]}}", 16, "unknown dtype '(not a string)'");
    expect_bad_json(ctx, "neg_shape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],"
                    "\"data_offsets\":[0,16]}}", 16, "shape[0] is not a non-negative");
    expect_bad_json(ctx, "real_shape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],"
                    "\"data_offsets\":[0,16]}}", 16, "shape[0] is not a non-negative");
    expect_bad_json(ctx, "overflow.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
                    "4294967296,2],\"data_offsets\":[0,16]}}", 16,
                    "shape [4294967296, 4294967296, 2] overflows");
    expect_bad_json(ctx, "dims.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],"
                    "\"data_offsets\":[0,16]}}", 16, "at most 8");
    expect_bad_json(ctx, "oob.st", "{\"a\":" T4 "[0,400]}}", 16,
                    "data_offsets [0, 400] end past the 16-byte data region");
    expect_bad_json(ctx, "overlap.st", "{\"b\":" T4 "[8,24]},\"a\":" T4 "[0,16]}}", 24,
                    "tensor 'a' data_offsets [0, 16] overlap 'b' [8, 24]");
    expect_bad_json(ctx, "hole.st", "{\"a\":" T4 "[0,16]},\"b\":" T4 "[20,36]}}", 36,
                    "data bytes [16, 20) belong to no tensor");
    expect_bad_json(ctx, "trailing.st", "{\"a\":" T4 "[0,16]}}", 20,
                    "data region has 20 bytes, but tensors cover only 16");
    expect_bad_json(ctx, "size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],"
                    "\"data_offsets\":[0,16]}}", 16, "hold 16 bytes, F32 shape [3] needs 12");
    expect_bad_json(ctx, "reversed.st", "{\"a\":" T4 "[16,0]}}", 16, "are reversed");
    expect_bad_json(ctx, "three.st", "{\"a\":" T4 "[0,16,16]}}", 16, "two non-negative");
    expect_bad_json(ctx, "big_int.st", "{\"a\":" T4 "[0,99999999999999999999]}}", 16,
                    "invalid JSON header");
    expect_bad_json(ctx, "meta_num.st", "{\"__metadata__\":{\"k\":1}}", 0,
                    "__metadata__ value of 'k' is not a string");
    expect_bad_json(ctx, "meta_arr.st", "{\"__metadata__\":[\"k\"]}", 0,
                    "__metadata__ is not an object");
    expect_bad_json(ctx, "entry_num.st", "{\"a\":5}", 0, "tensor 'a': entry is not an object");
    expect_bad_json(ctx, "extra_key.st", "{\"a\":" T4 "[0,16],\"x\":1}}", 16,
                    "unexpected key 'x'");
    expect_bad_json(ctx, "no_offsets.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16,
                    "missing \"data_offsets\"");
    expect_bad_json(ctx, "no_shape.st", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}",
                    16, "missing \"shape\"");
    expect_bad_json(ctx, "utf8.st", "{\"\xff\":" T4 "[0,16]}}", 16, "invalid JSON header");
    expect_bad_json(ctx, "nul.st", "{\"a\\u0000b\":" T4 "[0,16]}}", 16, "invalid JSON header");
    expect_bad_json(ctx, "uncovered.st", "{}", 4, "cover only 0");

    lam_st_file *f = NULL;
    in_dir(path, sizeof path, "does_not_exist.st");
    T_CHECK(lam__st_open(ctx, path, &f) == LAM_ERR_IO && msg_has(ctx, "does_not_exist.st") &&
            msg_has(ctx, "No such file or directory"), "missing file: %s", lam_ctx_errmsg(ctx));
    T_CHECK(lam__st_open(ctx, dir, &f) == LAM_ERR_IO && msg_has(ctx, "not a regular file"),
            "directory: %s", lam_ctx_errmsg(ctx));
    T_CHECK(lam__st_open(ctx, NULL, &f) == LAM_ERR_ARG && f == NULL, "NULL path");

    /* Sweeps over a real file: every strict prefix is malformed; flipped bytes may or may
     * not be, but never crash or hand out an out-of-range tensor (ASan watches). */
    int prefixes_ok = 1, flips_ok = 0;
    for (size_t k = 0; good != NULL && k < n; k++) {
        f = NULL;
        prefixes_ok &= lam__st_open_mem(ctx, "prefix", good, (int64_t)k, &f) == LAM_ERR_FORMAT;
        lam__st_close(ctx, f);
    }
    T_CHECK(prefixes_ok, "every strict prefix is rejected");
    static const unsigned char flips[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    for (size_t k = 0; good != NULL && k < n; k++) {
        for (size_t j = 0; j < sizeof flips; j++) {
            good[k] ^= flips[j];
            f = NULL;
            if (lam__st_open_mem(ctx, "flip", good, (int64_t)n, &f) == LAM_OK) {
                int64_t sum = 0;
                for (int i = 0; i < lam__st_count(f); i++) {
                    const lam_st_tensor *t = lam__st_at(f, i);
                    /* read every byte the reader hands out (ASan checks the bounds) */
                    volatile unsigned char acc = 0;
                    for (int64_t q = 0; q < t->nbytes; q++) {
                        acc ^= ((const unsigned char *)t->data)[q];
                    }
                    (void)acc;
                    sum += t->nbytes;
                }
                flips_ok += 1;
                T_CHECK(sum == 32, "flipped file that opens still tiles its data");
            }
            lam__st_close(ctx, f);
            good[k] ^= flips[j];
        }
    }
    printf("corruption sweep: %d of %zu flipped files still valid\n", flips_ok, 5 * n);
    free(good);
    T_CHECK(c.live == 1, "bad files leak nothing (%lld live)", (long long)c.live);
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------------------- atomicity */

typedef struct fault {
    int64_t write_budget;  /* bytes that may still be written; < 0: unlimited */
    int fail_fsync_at;     /* 1-based fsync call that fails with EIO; 0: none */
    int fail_rename;       /* rename fails with EXDEV */
    int n_fsync, n_rename;
} fault;

static int64_t h_write(void *user, int fd, const void *buf, size_t n)
{
    fault *f = user;
    if (f->write_budget >= 0) {
        if (f->write_budget == 0) {
            errno = ENOSPC;
            return -1;
        }
        if ((int64_t)n > f->write_budget) {
            n = (size_t)f->write_budget; /* a short write first, as a full disk gives */
        }
        f->write_budget -= (int64_t)n;
    }
    return (int64_t)write(fd, buf, n);
}

static int h_fsync(void *user, int fd)
{
    fault *f = user;
    if (++f->n_fsync == f->fail_fsync_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static int h_rename(void *user, const char *from, const char *to)
{
    fault *f = user;
    f->n_rename++;
    if (f->fail_rename) {
        errno = EXDEV;
        return -1;
    }
    return rename(from, to);
}

static int same_file(const char *path, const unsigned char *want, size_t n)
{
    size_t m = 0;
    unsigned char *got = get_file(path, &m);
    int same = got != NULL && m == n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

static void test_atomic(void)
{
    t_alloc c = {0};
    lam_ctx *ctx = t_ctx_counting(&c);
    char path[128];
    in_dir(path, sizeof path, "atomic.safetensors");
    lam_st_entry e[N_RT];
    rt_entries(e);
    T_CHECK(lam__st_write(ctx, path, e, 2, NULL, NULL, 0, NULL) == LAM_OK, "original");
    size_t n = 0;
    unsigned char *orig = get_file(path, &n);
    lam_io_hooks io = {h_write, h_fsync, h_rename, NULL};
    /* the new file holds "big" (200 KB), so writes go through the staging buffer and
     * around it */
    const int64_t budgets[] = {0, 7, 1000, 65536, 150000, 200000};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        fault fl = {budgets[i], 0, 0, 0, 0};
        io.user = &fl;
        lam_status st = lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, &io);
        T_CHECK(st == LAM_ERR_IO && msg_has(ctx, path) &&
                msg_has(ctx, "No space left on device"), "ENOSPC after %lld bytes: '%s'",
                (long long)budgets[i], lam_ctx_errmsg(ctx));
        T_CHECK(same_file(path, orig, n) && count_tmp() == 0 && fl.n_rename == 0,
                "ENOSPC after %lld bytes: old file intact, no temporary file",
                (long long)budgets[i]);
    }
    fault fl = {-1, 1, 0, 0, 0};
    io.user = &fl;
    T_CHECK(lam__st_write(ctx, path, e, N_RT, NULL, NULL, 0, &io) == LAM_ERR_IO &&
            msg_has(ctx, "fsync failed: Input/output error"), "fsync: %s", lam_ctx_errmsg(ctx));
    T_CHECK(same_file(path, orig, n) && count_tmp() == 0, "fsync failure: old file intact");
    fl = (fault){-1, 0, 1, 0, 0};
    T_CHECK(lam__st_write(ctx, path, e, N_RT, NULL, NULL, 0, &io) == LAM_ERR_IO &&
            msg_has(ctx, path) && msg_has(ctx, "Invalid cross-device link"),
            "rename: %s", lam_ctx_errmsg(ctx));
    T_CHECK(same_file(path, orig, n) && count_tmp() == 0 && fl.n_rename == 1,
            "rename failure: old file intact, no temporary file");
    T_CHECK(c.live == 1, "failed writes leak nothing (%lld live)", (long long)c.live);

    /* success through the hooks: file and directory are synced */
    fl = (fault){-1, 0, 0, 0, 0};
    T_CHECK(lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, &io) == LAM_OK &&
            fl.n_fsync == 2 && fl.n_rename == 1, "hooked write syncs file and directory");
    lam_st_file *f = NULL;
    T_CHECK(lam__st_open(ctx, path, &f) == LAM_OK, "replaced file opens");
    if (f != NULL) {
        check_rt(ctx, f, "replaced");
    }
    lam__st_close(ctx, f);
    /* the directory sync fails after the rename: reported, the new file stays */
    fl = (fault){-1, 2, 0, 0, 0};
    T_CHECK(lam__st_write(ctx, path, e, 2, NULL, NULL, 0, &io) == LAM_ERR_IO &&
            msg_has(ctx, "syncing its directory failed") && count_tmp() == 0,
            "directory fsync failure reported: %s", lam_ctx_errmsg(ctx));
    T_CHECK(same_file(path, orig, n), "after the rename the new file is in place");

    /* stale temporary files of a killed run (same pid, other pids, a directory, an
     * unreadable file) do not break the next save and are left alone */
    char stale[3][192];
    snprintf(stale[0], sizeof stale[0], "%s.tmp.%ld.0000000000000000", path, (long)getpid());
    snprintf(stale[1], sizeof stale[1], "%s.tmp.1.deadbeefdeadbeef", path);
    snprintf(stale[2], sizeof stale[2], "%s.tmp.%ld.ffffffffffffffff", path, (long)getpid());
    put_file(stale[0], "junk", 4);
    put_file(stale[1], "junk", 4);
    chmod(stale[1], 0);
    mkdir(stale[2], 0700);
    T_CHECK(lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, NULL) == LAM_OK &&
            count_tmp() == 3, "save with stale temporary files: %s", lam_ctx_errmsg(ctx));
    f = NULL;
    T_CHECK(lam__st_open(ctx, path, &f) == LAM_OK, "file saved next to stale files");
    lam__st_close(ctx, f);
    unlink(stale[0]);
    unlink(stale[1]);
    rmdir(stale[2]);

    /* unwritable destination: nothing created, message names the path */
    char bad[160];
    in_dir(bad, sizeof bad, "no/such/dir/x.safetensors");
    T_CHECK(lam__st_write(ctx, bad, e, 2, NULL, NULL, 0, NULL) == LAM_ERR_IO &&
            msg_has(ctx, bad) && msg_has(ctx, "No such file or directory"),
            "missing directory: %s", lam_ctx_errmsg(ctx));
    /* the bare atomic layer */
    in_dir(bad, sizeof bad, "plain.txt");
    T_CHECK(lam__atomic_write(ctx, bad, "hello\n", 6, NULL) == LAM_OK &&
            same_file(bad, (const unsigned char *)"hello\n", 6), "lam__atomic_write");
    T_CHECK(lam__atomic_write(ctx, bad, "", 0, NULL) == LAM_OK &&
            same_file(bad, (const unsigned char *)"", 0), "lam__atomic_write of nothing");
    unlink(bad);
    free(orig);
    T_CHECK(c.live == 1 && count_tmp() == 0, "atomic tests leak nothing");
    lam_ctx_destroy(ctx);
}

/* --------------------------------------------------- failing allocations */

static void test_nomem(void)
{
    t_alloc c = {0};
    lam_ctx *ctx = t_ctx_counting(&c);
    char path[128];
    in_dir(path, sizeof path, "nomem.safetensors");
    lam_st_entry e[N_RT];
    rt_entries(e);
    T_CHECK(lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, NULL) == LAM_OK, "file");
    size_t n = 0;
    unsigned char *orig = get_file(path, &n);
    lam_st_file *f = NULL;
    c.calls = 0;
    T_CHECK(lam__st_open(ctx, path, &f) == LAM_OK, "open");
    lam__st_close(ctx, f);
    int64_t k_open = c.calls;
    for (int64_t k = 1; k <= k_open; k++) {
        c.calls = 0;
        c.fail_at = k;
        f = NULL;
        lam_status st = lam__st_open(ctx, path, &f);
        T_CHECK(st == LAM_ERR_NOMEM && f == NULL && c.live == 1 && msg_has(ctx, path),
                "open, allocation %lld of %lld fails: status %d, %lld live, '%s'",
                (long long)k, (long long)k_open, st, (long long)c.live, lam_ctx_errmsg(ctx));
    }
    c.fail_at = 0;
    c.calls = 0;
    T_CHECK(lam__st_open_mem(ctx, "mem", orig, (int64_t)n, &f) == LAM_OK, "open_mem");
    lam__st_close(ctx, f);
    int64_t k_mem = c.calls;
    for (int64_t k = 1; k <= k_mem; k++) {
        c.calls = 0;
        c.fail_at = k;
        f = NULL;
        lam_status st = lam__st_open_mem(ctx, "mem", orig, (int64_t)n, &f);
        T_CHECK(st == LAM_ERR_NOMEM && f == NULL && c.live == 1, "open_mem, allocation %lld",
                (long long)k);
    }
    c.fail_at = 0;
    c.calls = 0;
    T_CHECK(lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, NULL) == LAM_OK, "write");
    int64_t k_write = c.calls;
    for (int64_t k = 1; k <= k_write; k++) {
        c.calls = 0;
        c.fail_at = k;
        lam_status st = lam__st_write(ctx, path, e, N_RT, rt_keys, rt_vals, 3, NULL);
        T_CHECK(st == LAM_ERR_NOMEM && c.live == 1 && count_tmp() == 0 &&
                same_file(path, orig, n),
                "write, allocation %lld of %lld fails: status %d, %lld live", (long long)k,
                (long long)k_write, st, (long long)c.live);
    }
    c.fail_at = 0;
    printf("allocation failures: %lld in open, %lld in write\n", (long long)k_open,
           (long long)k_write);
    T_CHECK(k_open >= 2 && k_write >= 3, "allocations were counted");
    free(orig);
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------- python interoperability */

/* The sample shared with check_safetensors_torch.py; keep the two in step. */
static float smp_w[6] = {-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f}, smp_s = 42.5f;
static double smp_d[3] = {1.0 / 3.0, -2.5, 1e300};
static int64_t smp_i[4] = {-1, 0, INT64_C(1) << 40, -(INT64_C(1) << 62)};
static uint8_t smp_b[3] = {0, 127, 255};
static const lam_st_entry smp[6] = {
    {"w", LAM_ST_F32, 2, {2, 3}, smp_w},  {"d", LAM_ST_F64, 1, {3}, smp_d},
    {"i", LAM_ST_I64, 1, {4}, smp_i},     {"b", LAM_ST_U8, 1, {3}, smp_b},
    {"s", LAM_ST_F32, 0, {0}, &smp_s},    {"e", LAM_ST_F32, 2, {0, 3}, NULL},
};
static const char *const smp_k[2] = {"producer", "note"};
static const char *const smp_v[2] = {"lamina", "\xc3\xbc" "n" "\xc3\xaf" "code"};

static int sample(const char *mode, const char *path)
{
    lam_ctx *ctx = t_ctx_counting(NULL);
    int ok = 0;
    if (strcmp(mode, "--write-sample") == 0) {
        ok = lam__st_write(ctx, path, smp, 6, smp_k, smp_v, 2, NULL) == LAM_OK;
    } else {
        lam_st_file *f = NULL;
        ok = lam__st_open(ctx, path, &f) == LAM_OK && lam__st_count(f) == 6;
        for (int i = 0; ok && i < 6; i++) {
            int64_t bytes = lam__st_dtype_size(smp[i].dtype);
            for (int d = 0; d < smp[i].ndim; d++) {
                bytes *= smp[i].shape[d];
            }
            unsigned char buf[64];
            ok = lam__st_copy(ctx, f, smp[i].name, smp[i].dtype, smp[i].ndim, smp[i].shape,
                              buf, bytes) == LAM_OK &&
                 (bytes == 0 || memcmp(buf, smp[i].data, (size_t)bytes) == 0);
        }
        for (int i = 0; ok && i < 2; i++) {
            const char *v = lam__st_meta(f, smp_k[i]);
            ok = v != NULL && strcmp(v, smp_v[i]) == 0;
        }
        lam__st_close(ctx, f);
    }
    if (!ok) {
        printf("%s %s: failed: %s\n", mode, path, lam_ctx_errmsg(ctx));
    }
    lam_ctx_destroy(ctx);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        return sample(argv[1], argv[2]);
    }
    snprintf(dir, sizeof dir, "/tmp/lam-st-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    test_round_trip();
    test_write_args();
    test_bad_files();
    test_atomic();
    test_nomem();
    /* clean up: every file this test made is in dir */
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
    return t_exit("safetensors");
}
