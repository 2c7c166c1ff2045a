/* NumPy .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *   "\x93NUMPY", major, minor version bytes, then the header length (uint16 LE in 1.0,
 *   uint32 LE in 2.0 and 3.0), then the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 *   padded with spaces and a newline, then the array, raw, in C or Fortran order.
 * We parse the dict with a small strict parser (no eval), accept little-endian numeric
 * dtypes and C order only, and check the payload size against the file before allocating. */
#include "data_internal.h"

#include <stdio.h>
#include <string.h>

/* numpy writes headers of ~128 bytes for the dtypes we accept; longer ones carry structured
 * dtypes we reject anyway, so a stack buffer suffices. */
#define LAM__NPY_MAX_HEADER 4096
#define LAM__NPY_MAX_DIM 8

typedef struct npy_head {
    lam__dtype dt;
    int ndim;
    int64_t dims[LAM__NPY_MAX_DIM];
    int64_t count;
    int64_t bytes;
    char desc[96];
} npy_head;

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int take(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int take_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A '...' or "..." string without escapes (numpy never writes any in these keys). */
static int take_str(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) {
        return 0;
    }
    const char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap || *c->p == '\\') {
            return 0;
        }
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) {
        return 0;
    }
    c->p++;
    buf[n] = '\0';
    return 1;
}

static lam_status bad(lam__rd *r, const char *why)
{
    return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: bad NPY header: %s", r->path, why);
}

static lam_status parse_dtype(lam__rd *r, const char *s, lam__dtype *dt)
{
    static const struct {
        const char *name;
        lam__dtype dt;
    } known[] = {
        {"<f4", LAM__F32}, {"<f8", LAM__F64}, {"|u1", LAM__U8},  {"<u1", LAM__U8},
        {"|i1", LAM__I8},  {"<i1", LAM__I8},  {"<i2", LAM__I16}, {"<i4", LAM__I32},
        {"<i8", LAM__I64},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(s, known[i].name) == 0) {
            *dt = known[i].dt;
            return LAM_OK;
        }
    }
    return lam__error(r->ctx, LAM_ERR_FORMAT,
                      "%s: unsupported NPY dtype '%s' (supported: <f4 <f8 |u1 |i1 <i2 <i4 <i8)",
                      r->path, s);
}

static lam_status parse_shape(lam__rd *r, cursor *c, npy_head *h)
{
    if (!take(c, '(')) {
        return bad(r, "'shape' is not a tuple");
    }
    h->ndim = 0;
    if (take(c, ')')) {
        return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: NPY array is 0-dimensional", r->path);
    }
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end) {
            return bad(r, "'shape' tuple is not closed");
        }
        if (*c->p < '0' || *c->p > '9') {
            return bad(r, "a 'shape' entry is not a non-negative integer");
        }
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int d = *c->p++ - '0';
            if (v > (INT64_MAX - d) / 10) {
                return lam__error(r->ctx, LAM_ERR_RANGE, "%s: NPY shape entry overflows 64 bits",
                                  r->path);
            }
            v = v * 10 + d;
        }
        if (c->p < c->end && *c->p == 'L') {
            c->p++; /* Python 2 long literal, as old numpy wrote */
        }
        if (h->ndim == LAM__NPY_MAX_DIM) {
            return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: NPY array has more than %d dimensions",
                              r->path, LAM__NPY_MAX_DIM);
        }
        h->dims[h->ndim++] = v;
        if (take(c, ')')) {
            break;
        }
        if (!take(c, ',')) {
            return bad(r, "expected ',' or ')' in 'shape'");
        }
        if (take(c, ')')) {
            break;
        }
    }
    return LAM_OK;
}

static lam_status parse_dict(lam__rd *r, const char *text, size_t len, npy_head *h)
{
    cursor c = {text, text + len};
    char key[32], descr[32];
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    lam_status st = LAM_OK;
    if (!take(&c, '{')) {
        return bad(r, "not a Python dict");
    }
    while (!take(&c, '}')) {
        if (!take_str(&c, key, sizeof key) || !take(&c, ':')) {
            return bad(r, "expected a quoted key and ':'");
        }
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!take_str(&c, descr, sizeof descr)) {
                return lam__error(r->ctx, LAM_ERR_FORMAT,
                                  "%s: unsupported NPY dtype (structured or not a type string)",
                                  r->path);
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (take_word(&c, "True")) {
                fortran = 1;
            } else if (!take_word(&c, "False")) {
                return bad(r, "'fortran_order' is neither True nor False");
            }
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            st = parse_shape(r, &c, h);
            if (st != LAM_OK) {
                return st;
            }
            have_shape = 1;
        } else {
            return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: bad NPY header: %s key '%s'", r->path,
                              have_descr || have_order || have_shape ? "unexpected or repeated"
                                                                     : "unexpected",
                              key);
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}')) {
                return bad(r, "expected ',' or '}'");
            }
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end) {
        return bad(r, "text after the dict");
    }
    if (!have_descr || !have_order || !have_shape) {
        return bad(r, "missing 'descr', 'fortran_order' or 'shape'");
    }
    if (fortran) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: Fortran-ordered NPY arrays are not supported (save a C-ordered "
                          "copy, e.g. np.ascontiguousarray)",
                          r->path);
    }
    return parse_dtype(r, descr, &h->dt);
}

static lam_status read_header(lam__rd *r, npy_head *h)
{
    unsigned char pre[12];
    char text[LAM__NPY_MAX_HEADER];
    lam_status st = lam__rd_exact(r, pre, 8, "NPY magic and version");
    if (st != LAM_OK) {
        return st;
    }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: not an NPY file (bad magic)", r->path);
    }
    if (pre[6] < 1 || pre[6] > 3) {
        return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: unsupported NPY version %d.%d", r->path,
                          pre[6], pre[7]);
    }
    const int wide = pre[6] >= 2; /* 2.0 and 3.0 use a 4-byte header length */
    st = lam__rd_exact(r, pre + 8, wide ? 4 : 2, "NPY header length");
    if (st != LAM_OK) {
        return st;
    }
    uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (wide) {
        hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    }
    if (hlen > LAM__NPY_MAX_HEADER) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: NPY header of %u bytes is longer than the %d supported", r->path,
                          (unsigned)hlen, LAM__NPY_MAX_HEADER);
    }
    st = lam__rd_exact(r, text, hlen, "NPY header");
    if (st != LAM_OK) {
        return st;
    }
    st = parse_dict(r, text, hlen, h);
    if (st != LAM_OK) {
        return st;
    }
    int overflow = 0;
    h->count = 1;
    for (int i = 0; i < h->ndim; i++) {
        if (h->dims[i] == 0) {
            return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: NPY dimension %d is 0", r->path, i);
        }
        overflow |= lam__mul_i64(h->count, h->dims[i], &h->count);
    }
    char dims[80];
    lam__format_dims(dims, sizeof dims, h->ndim, h->dims);
    snprintf(h->desc, sizeof h->desc, "%s %s", dims, lam__dtype_name(h->dt));
    if (overflow || lam__mul_i64(h->count, lam__dtype_size(h->dt), &h->bytes)) {
        return lam__error(r->ctx, LAM_ERR_RANGE, "%s: NPY shape %s overflows 64 bits", r->path,
                          h->desc);
    }
    return LAM_OK;
}

/* Open `path` and read and check its header. */
static lam_status open_npy(lam_ctx *ctx, const char *path, lam__rd *r, npy_head *h)
{
    lam_status st = lam__rd_open(ctx, path, r);
    if (st == LAM_OK) {
        st = read_header(r, h);
    }
    return st;
}

static lam_status read_y(lam__rd *r, const npy_head *h, lam_dataset *ds,
                         const lam_data_options *o)
{
    const int64_t cols = h->ndim == 2 ? h->dims[1] : 1;
    lam_data_task task = o->task;
    if (task == LAM_DATA_AUTO) {
        task = lam__dtype_is_int(h->dt) && cols == 1 ? LAM_DATA_CLASSIFY : LAM_DATA_REGRESS;
    }
    if (h->count > LAM_DATA_MAX_BYTES / 4) {
        return lam__error(ds->ctx, LAM_ERR_RANGE, "%s: %s is over the size limit", r->path,
                          h->desc);
    }
    float *y = lam__data_alloc(ds->ctx, h->count * (int64_t)sizeof(float), r->path);
    if (y == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_status st = lam__rd_decode(r, h->dt, 0, h->count, cols, 0, y, "y");
    if (st != LAM_OK) {
        lam_free(ds->ctx, y);
        return st;
    }
    return lam__dataset_attach_y(ds, r->path, y, cols, task, o->n_classes);
}

lam_status lam_dataset_load_npy(lam_ctx *ctx, const char *x_path, const char *y_path,
                                const lam_data_options *opts, lam_dataset **out)
{
    if (ctx == NULL || x_path == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_dataset_load_npy: NULL argument");
    }
    lam_data_options tmp;
    const lam_data_options *o = lam__data_opts(opts, &tmp);
    lam__rd rx, ry;
    npy_head hx, hy;
    lam_dataset *ds = NULL;
    memset(&ry, 0, sizeof ry);
    memset(&hy, 0, sizeof hy);
    lam_status st = open_npy(ctx, x_path, &rx, &hx);
    if (st == LAM_OK && hx.ndim > 4) {
        st = lam__error(ctx, LAM_ERR_FORMAT, "%s: X is %s, supported are 1 to 4 dimensions",
                        x_path, hx.desc);
    }
    if (st == LAM_OK && y_path != NULL) {
        st = open_npy(ctx, y_path, &ry, &hy);
        if (st == LAM_OK && hy.ndim > 2) {
            st = lam__error(ctx, LAM_ERR_SHAPE, "%s: y is %s, expected (N) or (N, T)", y_path,
                            hy.desc);
        } else if (st == LAM_OK && hy.dims[0] != hx.dims[0]) {
            st = lam__error(ctx, LAM_ERR_SHAPE, "%s: holds %lld rows but %s holds %lld samples",
                            y_path, (long long)hy.dims[0], x_path, (long long)hx.dims[0]);
        }
    }
    /* every size is checked against the files before the first allocation */
    if (st == LAM_OK) {
        st = lam__rd_expect(&rx, hx.bytes, hx.desc);
    }
    if (st == LAM_OK && y_path != NULL) {
        st = lam__rd_expect(&ry, hy.bytes, hy.desc);
    }
    if (st == LAM_OK) {
        int sample_ndim = 0;
        int64_t shape[LAM_DATA_MAX_SAMPLE_DIM];
        lam__sample_shape(hx.ndim, hx.dims, &sample_ndim, shape);
        st = lam__dataset_new(ctx, x_path, hx.dims[0], sample_ndim, shape, &ds);
    }
    if (st == LAM_OK) {
        st = lam__rd_decode(&rx, hx.dt, 0, hx.count, ds->sample_numel, o->scale_u8, ds->x, "X");
    }
    if (st == LAM_OK && y_path != NULL) {
        st = read_y(&ry, &hy, ds, o);
    }
    lam__rd_close(&rx);
    lam__rd_close(&ry);
    if (st != LAM_OK) {
        lam_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return LAM_OK;
}
