/* IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 *   bytes 0-1  zero
 *   byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
 *              0x0E float64
 *   byte  3    number of dimensions d
 *   then d big-endian uint32 sizes, then the elements, big-endian, row-major.
 * The dimensions come from the header, never from the file name. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LAM__PATH_MAX 4096

typedef struct idx_head {
    lam__dtype dt;
    int ndim;
    int64_t dims[4];
    int64_t bytes; /* payload size promised by the header */
    char desc[96]; /* "60000x28x28 uint8" for messages */
} idx_head;

static lam_status read_header(lam__rd *r, idx_head *h)
{
    unsigned char m[4], d[16];
    lam_status st = lam__rd_exact(r, m, 4, "IDX magic number");
    if (st != LAM_OK) {
        return st;
    }
    if (m[0] != 0 || m[1] != 0) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 ..)",
                          r->path, m[0], m[1], m[2], m[3]);
    }
    switch (m[2]) {
    case 0x08: h->dt = LAM__U8; break;
    case 0x09: h->dt = LAM__I8; break;
    case 0x0B: h->dt = LAM__I16; break;
    case 0x0C: h->dt = LAM__I32; break;
    case 0x0D: h->dt = LAM__F32; break;
    case 0x0E: h->dt = LAM__F64; break;
    default:
        return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: unknown IDX element type 0x%02x", r->path,
                          m[2]);
    }
    h->ndim = m[3];
    if (h->ndim < 1 || h->ndim > 4) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: IDX header has %d dimensions, supported are 1 to 4", r->path,
                          h->ndim);
    }
    st = lam__rd_exact(r, d, 4 * h->ndim, "IDX header dimensions");
    if (st != LAM_OK) {
        return st;
    }
    int64_t count = 1;
    int overflow = 0;
    for (int i = 0; i < h->ndim; i++) {
        const unsigned char *p = d + 4 * i;
        h->dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                               (uint32_t)p[2] << 8 | (uint32_t)p[3]);
        if (h->dims[i] == 0) {
            return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: IDX dimension %d is 0", r->path, i);
        }
        overflow |= lam__mul_i64(count, h->dims[i], &count);
    }
    char dims[64];
    lam__format_dims(dims, sizeof dims, h->ndim, h->dims);
    snprintf(h->desc, sizeof h->desc, "%s %s", dims, lam__dtype_name(h->dt));
    if (overflow || lam__mul_i64(count, lam__dtype_size(h->dt), &h->bytes)) {
        return lam__error(r->ctx, LAM_ERR_RANGE, "%s: IDX dimensions %s overflow 64 bits",
                          r->path, h->desc);
    }
    return LAM_OK;
}

/* Read the labels (or targets) payload into ds. */
static lam_status read_labels(lam__rd *r, const idx_head *h, lam_dataset *ds,
                              const lam_data_options *o)
{
    float *y = lam__data_alloc(ds->ctx, ds->n * (int64_t)sizeof(float), r->path);
    if (y == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_status st = lam__rd_decode(r, h->dt, 1, ds->n, 1, 0, y, "labels");
    if (st != LAM_OK) {
        lam_free(ds->ctx, y);
        return st;
    }
    lam_data_task task = o->task == LAM_DATA_REGRESS ? LAM_DATA_REGRESS : LAM_DATA_CLASSIFY;
    return lam__dataset_attach_y(ds, r->path, y, 1, task, o->n_classes);
}

lam_status lam_dataset_load_idx(lam_ctx *ctx, const char *images_path, const char *labels_path,
                                const lam_data_options *opts, lam_dataset **out)
{
    if (ctx == NULL || images_path == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_dataset_load_idx: NULL argument");
    }
    lam_data_options tmp;
    const lam_data_options *o = lam__data_opts(opts, &tmp);
    lam__rd ri, rl;
    idx_head hi, hl;
    lam_dataset *ds = NULL;
    memset(&rl, 0, sizeof rl);
    lam_status st = lam__rd_open(ctx, images_path, &ri);
    if (st != LAM_OK) {
        return st;
    }
    st = read_header(&ri, &hi);
    if (st == LAM_OK && labels_path != NULL) {
        st = lam__rd_open(ctx, labels_path, &rl);
        if (st == LAM_OK) {
            st = read_header(&rl, &hl);
        }
        if (st == LAM_OK && hl.ndim != 1) {
            st = lam__error(ctx, LAM_ERR_SHAPE, "%s: labels file is %s, expected 1-D (N)",
                            labels_path, hl.desc);
        } else if (st == LAM_OK && !lam__dtype_is_int(hl.dt)) {
            st = lam__error(ctx, LAM_ERR_FORMAT, "%s: labels must be integers, file holds %s",
                            labels_path, lam__dtype_name(hl.dt));
        } else if (st == LAM_OK && hl.dims[0] != hi.dims[0]) {
            st = lam__error(ctx, LAM_ERR_SHAPE, "%s: holds %lld labels but %s holds %lld samples",
                            labels_path, (long long)hl.dims[0], images_path,
                            (long long)hi.dims[0]);
        }
    }
    /* every size is checked against the files before the first allocation */
    if (st == LAM_OK) {
        st = lam__rd_expect(&ri, hi.bytes, hi.desc);
    }
    if (st == LAM_OK && labels_path != NULL) {
        st = lam__rd_expect(&rl, hl.bytes, hl.desc);
    }
    if (st == LAM_OK) {
        int sample_ndim = 0;
        int64_t shape[LAM_DATA_MAX_SAMPLE_DIM];
        lam__sample_shape(hi.ndim, hi.dims, &sample_ndim, shape);
        st = lam__dataset_new(ctx, images_path, hi.dims[0], sample_ndim, shape, &ds);
    }
    if (st == LAM_OK) {
        st = lam__rd_decode(&ri, hi.dt, 1, hi.bytes / lam__dtype_size(hi.dt), ds->sample_numel,
                            o->scale_u8, ds->x, "images");
    }
    if (st == LAM_OK && labels_path != NULL) {
        st = read_labels(&rl, &hl, ds, o);
    }
    lam__rd_close(&ri);
    lam__rd_close(&rl);
    if (st != LAM_OK) {
        lam_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return LAM_OK;
}

/* Find "<dir>/<split>-<kind>-<idx>" with '-' or '.' before the idx part, raw or .gz. */
static lam_status find_file(lam_ctx *ctx, const char *dir, const char *split, const char *kind,
                            const char *idx, char *path, size_t cap)
{
    static const char *const seps[] = {"-", "."};
    static const char *const exts[] = {"", ".gz"};
    for (int e = 0; e < 2; e++) {
        for (int s = 0; s < 2; s++) {
            int k = snprintf(path, cap, "%s/%s-%s%s%s%s", dir, split, kind, seps[s], idx,
                             exts[e]);
            if (k < 0 || (size_t)k >= cap) {
                return lam__error(ctx, LAM_ERR_ARG, "%s: directory path too long", dir);
            }
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                return LAM_OK;
            }
        }
    }
    return lam__error(ctx, LAM_ERR_IO, "%s: no %s-%s-%s[.gz] found", dir, split, kind, idx);
}

lam_status lam_dataset_load_mnist_dir(lam_ctx *ctx, const char *dir, const char *split,
                                      const lam_data_options *opts, lam_dataset **out)
{
    if (ctx == NULL || dir == NULL || split == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_dataset_load_mnist_dir: NULL argument");
    }
    const char *name = NULL;
    if (strcmp(split, "train") == 0) {
        name = "train";
    } else if (strcmp(split, "t10k") == 0 || strcmp(split, "test") == 0) {
        name = "t10k";
    } else {
        return lam__error(ctx, LAM_ERR_ARG, "%s: unknown split \"%s\" (train, t10k or test)",
                          dir, split);
    }
    char images[LAM__PATH_MAX], labels[LAM__PATH_MAX];
    lam_status st = find_file(ctx, dir, name, "images", "idx3-ubyte", images, sizeof images);
    if (st == LAM_OK) {
        st = find_file(ctx, dir, name, "labels", "idx1-ubyte", labels, sizeof labels);
    }
    if (st != LAM_OK) {
        return st;
    }
    return lam_dataset_load_idx(ctx, images, labels, opts, out);
}
