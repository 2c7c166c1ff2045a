/* Datasets: construction shared by the readers, copies from caller arrays, subsets,
 * validation splits, and lam_dataset_load(), which picks a reader from a path. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* Longest path lam_dataset_load() splits into parts; longer specs are LAM_ERR_ARG. */
#define LAM__PATH_MAX 4096

void lam_data_options_init(lam_data_options *opts)
{
    if (opts == NULL) {
        return;
    }
    memset(opts, 0, sizeof *opts);
    opts->task = LAM_DATA_AUTO;
    opts->header = -1;
    opts->scale_u8 = 1;
}

const lam_data_options *lam__data_opts(const lam_data_options *o, lam_data_options *tmp)
{
    if (o != NULL) {
        return o;
    }
    lam_data_options_init(tmp);
    return tmp;
}

void lam__sample_shape(int ndim, const int64_t *dims, int *sample_ndim, int64_t *shape)
{
    shape[0] = shape[1] = shape[2] = 1;
    switch (ndim) {
    case 1:
        *sample_ndim = 1;
        break;
    case 2:
        *sample_ndim = 1;
        shape[0] = dims[1];
        break;
    case 3:
        *sample_ndim = 3;
        shape[1] = dims[1];
        shape[2] = dims[2];
        break;
    default:
        *sample_ndim = 3;
        shape[0] = dims[1];
        shape[1] = dims[2];
        shape[2] = dims[3];
        break;
    }
}

lam_status lam__dataset_new(lam_ctx *ctx, const char *what, int64_t n, int sample_ndim,
                            const int64_t *sample_shape, lam_dataset **out)
{
    int64_t numel = 1, bytes = 0;
    for (int i = 0; i < sample_ndim; i++) {
        if (lam__mul_i64(numel, sample_shape[i], &numel)) {
            numel = -1;
            break;
        }
    }
    if (numel < 0 || lam__mul_i64(n, numel, &bytes) || lam__mul_i64(bytes, 4, &bytes) ||
        bytes > LAM_DATA_MAX_BYTES) {
        return lam__error(ctx, LAM_ERR_RANGE,
                          "%s: %lld samples of this shape exceed the %lld-byte limit", what,
                          (long long)n, (long long)LAM_DATA_MAX_BYTES);
    }
    lam_dataset *ds = lam__data_alloc(ctx, (int64_t)sizeof *ds, what);
    if (ds == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(ds, 0, sizeof *ds);
    ds->ctx = ctx;
    ds->n = n;
    ds->sample_ndim = sample_ndim;
    ds->sample_shape[0] = ds->sample_shape[1] = ds->sample_shape[2] = 1;
    for (int i = 0; i < sample_ndim; i++) {
        ds->sample_shape[i] = sample_shape[i];
    }
    ds->sample_numel = numel;
    ds->task = LAM_DATA_UNLABELED;
    ds->x = lam__data_alloc(ctx, bytes, what);
    if (ds->x == NULL) {
        lam_free(ctx, ds);
        return LAM_ERR_NOMEM;
    }
    *out = ds;
    return LAM_OK;
}

void lam_dataset_destroy(lam_dataset *ds)
{
    if (ds == NULL) {
        return;
    }
    lam_ctx *ctx = ds->ctx;
    lam_free(ctx, ds->x);
    lam_free(ctx, ds->labels);
    lam_free(ctx, ds->targets);
    lam_free(ctx, ds);
}

lam_status lam__dataset_attach_y(lam_dataset *ds, const char *what, float *y, int64_t cols,
                                 lam_data_task task, int64_t n_classes)
{
    lam_ctx *ctx = ds->ctx;
    if (task == LAM_DATA_REGRESS) {
        ds->task = LAM_DATA_REGRESS;
        ds->targets = y;
        ds->n_targets = cols;
        return LAM_OK;
    }
    lam_status st = LAM_OK;
    if (cols != 1) {
        st = lam__error(ctx, LAM_ERR_SHAPE,
                        "%s: classification needs one label per sample, found %lld columns",
                        what, (long long)cols);
    } else if (n_classes < 0 || n_classes > LAM_DATA_MAX_CLASSES) {
        st = lam__error(ctx, LAM_ERR_ARG, "%s: n_classes %lld is outside 0..%d", what,
                        (long long)n_classes, LAM_DATA_MAX_CLASSES);
    }
    const int64_t limit = n_classes > 0 ? n_classes : LAM_DATA_MAX_CLASSES;
    float max = 0.0f;
    for (int64_t i = 0; st == LAM_OK && i < ds->n; i++) {
        const float v = y[i];
        if (v != floorf(v)) {
            st = lam__error(ctx, LAM_ERR_FORMAT, "%s: label %g of sample %lld is not an integer",
                            what, (double)v, (long long)i);
        } else if (v < 0.0f) {
            st = lam__error(ctx, LAM_ERR_RANGE, "%s: label %.0f of sample %lld is negative",
                            what, (double)v, (long long)i);
        } else if (v >= (float)limit) {
            st = lam__error(ctx, LAM_ERR_RANGE, "%s: label %.0f of sample %lld is >= %s %lld",
                            what, (double)v, (long long)i,
                            n_classes > 0 ? "n_classes" : "the class limit", (long long)limit);
        } else if (v > max) {
            max = v;
        }
    }
    int32_t *labels = NULL;
    if (st == LAM_OK) {
        labels = lam__data_alloc(ctx, ds->n * (int64_t)sizeof *labels, what);
        st = labels != NULL ? LAM_OK : LAM_ERR_NOMEM;
    }
    if (st != LAM_OK) {
        lam_free(ctx, y);
        return st;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        labels[i] = (int32_t)y[i];
    }
    lam_free(ctx, y);
    ds->task = LAM_DATA_CLASSIFY;
    ds->labels = labels;
    ds->n_classes = n_classes > 0 ? n_classes : (int64_t)max + 1;
    return LAM_OK;
}

static lam_status check_finite(lam_ctx *ctx, const char *what, const float *v, int64_t n,
                               int64_t row)
{
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return lam__error(ctx, LAM_ERR_FORMAT, "%s: value %lld of sample %lld is %s", what,
                              (long long)(i % row), (long long)(i / row),
                              isnan(v[i]) ? "NaN" : "infinite");
        }
    }
    return LAM_OK;
}

lam_status lam_dataset_create(lam_ctx *ctx, int64_t n, int sample_ndim,
                              const int64_t *sample_shape, const float *x,
                              const int32_t *labels, int64_t n_classes, const float *targets,
                              int64_t n_targets, lam_dataset **out)
{
    const char *what = "lam_dataset_create";
    if (ctx == NULL || out == NULL || sample_shape == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: NULL argument", what);
    }
    if (n < 1 || (sample_ndim != 1 && sample_ndim != 3) || (labels != NULL && targets != NULL) ||
        (targets != NULL && n_targets < 1)) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "%s: need n >= 1, sample_ndim 1 or 3, at most one of labels and "
                          "targets, n_targets >= 1 with targets",
                          what);
    }
    for (int i = 0; i < sample_ndim; i++) {
        if (sample_shape[i] < 1) {
            return lam__error(ctx, LAM_ERR_ARG, "%s: sample dimension %d is %lld", what, i,
                              (long long)sample_shape[i]);
        }
    }
    if (labels != NULL && (n_classes < 0 || n_classes > LAM_DATA_MAX_CLASSES)) {
        return lam__error(ctx, LAM_ERR_RANGE, "%s: n_classes %lld is outside 0..%d", what,
                          (long long)n_classes, LAM_DATA_MAX_CLASSES);
    }
    int64_t max = -1;
    const int64_t limit = n_classes > 0 ? n_classes : LAM_DATA_MAX_CLASSES;
    for (int64_t i = 0; labels != NULL && i < n; i++) {
        if (labels[i] < 0 || labels[i] >= limit) {
            return lam__error(ctx, LAM_ERR_RANGE, "%s: label %d of sample %lld is outside "
                              "[0, %lld)", what, (int)labels[i], (long long)i, (long long)limit);
        }
        max = labels[i] > max ? labels[i] : max;
    }
    int64_t tbytes = 0;
    if (targets != NULL && (lam__mul_i64(n, n_targets, &tbytes) ||
                            lam__mul_i64(tbytes, 4, &tbytes) || tbytes > LAM_DATA_MAX_BYTES)) {
        return lam__error(ctx, LAM_ERR_RANGE, "%s: %lld x %lld targets are too many", what,
                          (long long)n, (long long)n_targets);
    }
    lam_dataset *ds = NULL;
    lam_status st = lam__dataset_new(ctx, what, n, sample_ndim, sample_shape, &ds);
    if (st != LAM_OK) {
        return st;
    }
    const int64_t nx = n * ds->sample_numel;
    if (x != NULL) {
        st = check_finite(ctx, what, x, nx, ds->sample_numel);
        memcpy(ds->x, x, (size_t)nx * sizeof(float));
    } else {
        memset(ds->x, 0, (size_t)nx * sizeof(float));
    }
    if (st == LAM_OK && labels != NULL) {
        ds->labels = lam__data_alloc(ctx, n * (int64_t)sizeof(int32_t), what);
        if (ds->labels == NULL) {
            st = LAM_ERR_NOMEM;
        } else {
            memcpy(ds->labels, labels, (size_t)n * sizeof(int32_t));
            ds->task = LAM_DATA_CLASSIFY;
            ds->n_classes = n_classes > 0 ? n_classes : max + 1;
        }
    }
    if (st == LAM_OK && targets != NULL) {
        st = check_finite(ctx, what, targets, n * n_targets, n_targets);
        ds->targets = st == LAM_OK ? lam__data_alloc(ctx, tbytes, what) : NULL;
        if (st == LAM_OK && ds->targets == NULL) {
            st = LAM_ERR_NOMEM;
        } else if (st == LAM_OK) {
            memcpy(ds->targets, targets, (size_t)tbytes);
            ds->task = LAM_DATA_REGRESS;
            ds->n_targets = n_targets;
        }
    }
    if (st != LAM_OK) {
        lam_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return LAM_OK;
}

lam_status lam_dataset_subset(lam_ctx *ctx, const lam_dataset *ds, const int64_t *idx,
                              int64_t n, lam_dataset **out)
{
    const char *what = "lam_dataset_subset";
    if (ctx == NULL || ds == NULL || idx == NULL || out == NULL || n < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: NULL argument or n < 1", what);
    }
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ds->n) {
            return lam__error(ctx, LAM_ERR_RANGE, "%s: index %lld at %lld is outside [0, %lld)",
                              what, (long long)idx[i], (long long)i, (long long)ds->n);
        }
    }
    lam_dataset *sub = NULL;
    lam_status st = lam__dataset_new(ctx, what, n, ds->sample_ndim, ds->sample_shape, &sub);
    if (st != LAM_OK) {
        return st;
    }
    if (ds->task == LAM_DATA_CLASSIFY) {
        sub->labels = lam__data_alloc(ctx, n * (int64_t)sizeof(int32_t), what);
        st = sub->labels != NULL ? LAM_OK : LAM_ERR_NOMEM;
    } else if (ds->task == LAM_DATA_REGRESS) {
        sub->targets = lam__data_alloc(ctx, n * ds->n_targets * (int64_t)sizeof(float), what);
        st = sub->targets != NULL ? LAM_OK : LAM_ERR_NOMEM;
    }
    if (st != LAM_OK) {
        lam_dataset_destroy(sub);
        return st;
    }
    sub->task = ds->task;
    sub->n_classes = ds->n_classes;
    sub->n_targets = ds->n_targets;
    /* cannot fail: indices were checked and the task's outputs exist */
    lam_dataset_gather(ds, idx, n, sub->x, sub->labels, sub->targets);
    *out = sub;
    return LAM_OK;
}

lam_status lam_dataset_split(lam_ctx *ctx, const lam_dataset *ds, double fraction,
                             uint64_t seed, lam_dataset **train, lam_dataset **val)
{
    const char *what = "lam_dataset_split";
    if (ctx == NULL || ds == NULL || train == NULL || val == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: NULL argument", what);
    }
    if (!(fraction > 0.0 && fraction < 1.0)) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: fraction %g is not in (0, 1)", what, fraction);
    }
    const int64_t n_val = (int64_t)llround(fraction * (double)ds->n);
    if (n_val < 1 || n_val > ds->n - 1) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "%s: fraction %g of %lld samples leaves a part empty", what, fraction,
                          (long long)ds->n);
    }
    int64_t *perm = lam__data_alloc(ctx, ds->n * (int64_t)sizeof *perm, what);
    unsigned char *in_val = perm != NULL ? lam__data_alloc(ctx, ds->n, what) : NULL;
    if (in_val == NULL) {
        lam_free(ctx, perm);
        return LAM_ERR_NOMEM;
    }
    lam__permute(seed, LAM__STREAM_SPLIT, ds->n, perm);
    memset(in_val, 0, (size_t)ds->n);
    for (int64_t i = 0; i < n_val; i++) {
        in_val[perm[i]] = 1;
    }
    /* reuse perm: training indices first, then validation ones, each in original order */
    int64_t a = 0, b = ds->n - n_val;
    for (int64_t i = 0; i < ds->n; i++) {
        perm[in_val[i] ? b++ : a++] = i;
    }
    lam_free(ctx, in_val);
    lam_dataset *tr = NULL, *va = NULL;
    lam_status st = lam_dataset_subset(ctx, ds, perm, ds->n - n_val, &tr);
    if (st == LAM_OK) {
        st = lam_dataset_subset(ctx, ds, perm + (ds->n - n_val), n_val, &va);
    }
    lam_free(ctx, perm);
    if (st != LAM_OK) {
        lam_dataset_destroy(tr);
        return st;
    }
    *train = tr;
    *val = va;
    return LAM_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Ends with ext or ext + ".gz". */
static int has_ext(const char *s, const char *ext)
{
    size_t a = strlen(s), b = strlen(ext);
    if (ends_with(s, ".gz") && a >= 3) {
        a -= 3;
    }
    return a >= b && strncmp(s + a - b, ext, b) == 0;
}

lam_status lam_dataset_load(lam_ctx *ctx, const char *spec, const lam_data_options *opts,
                            lam_dataset **out)
{
    if (ctx == NULL || spec == NULL || spec[0] == '\0' || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_dataset_load: NULL or empty argument");
    }
    lam_data_options tmp;
    const lam_data_options *o = lam__data_opts(opts, &tmp);
    char first[LAM__PATH_MAX], second[LAM__PATH_MAX];
    const char *comma = strchr(spec, ',');
    struct stat sb;
    /* a path that exists as given wins over reading its commas as a separator */
    if (comma != NULL && stat(spec, &sb) != 0) {
        size_t la = (size_t)(comma - spec), lb = strlen(comma + 1);
        if (la >= sizeof first || lb >= sizeof second || strchr(comma + 1, ',') != NULL) {
            return lam__error(ctx, LAM_ERR_ARG,
                              "%s: expected one path or two separated by one comma", spec);
        }
        memcpy(first, spec, la);
        first[la] = '\0';
        memcpy(second, comma + 1, lb + 1);
    } else {
        if (strlen(spec) >= sizeof first) {
            return lam__error(ctx, LAM_ERR_ARG, "%s: path too long", spec);
        }
        memcpy(first, spec, strlen(spec) + 1);
        second[0] = '\0';
    }
    const char *y = second[0] != '\0' ? second : NULL;
    if (stat(first, &sb) != 0) {
        return lam__error(ctx, LAM_ERR_IO, "%s: no such file or directory", first);
    }
    if (S_ISDIR(sb.st_mode)) {
        if (y != NULL) {
            return lam__error(ctx, LAM_ERR_ARG, "%s: a directory takes no second path", spec);
        }
        return lam_dataset_load_mnist_dir(ctx, first, o->split != NULL ? o->split : "train", o,
                                          out);
    }
    if (has_ext(first, ".npy")) {
        return lam_dataset_load_npy(ctx, first, y, o, out);
    }
    if (has_ext(first, ".csv") || has_ext(first, ".tsv") || has_ext(first, ".txt")) {
        if (y != NULL) {
            return lam__error(ctx, LAM_ERR_ARG, "%s: a CSV file takes no second path", spec);
        }
        return lam_dataset_load_csv(ctx, first, o, out);
    }
    return lam_dataset_load_idx(ctx, first, y, o, out);
}
