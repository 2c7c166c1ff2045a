/* Weights imported by name from a safetensors file, such as a PyTorch state_dict() written
 * by tools/export_torch.py: every parameter and buffer of the model must be in the file
 * with the model's exact shape. Everything is checked before anything is copied, so a bad
 * file leaves the model as it was. */
#include "lamina/checkpoint.h"
#include "model_internal.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lam_import_desc_init(lam_import_desc *d)
{
    if (d != NULL) {
        memset(d, 0, sizeof *d);
    }
}

/* IEEE half and bfloat16 to float. */
static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    float v;
    if (exp == 0) {
        v = ldexpf((float)man, -24); /* zero or subnormal */
    } else if (exp == 31) {
        v = man != 0 ? NAN : INFINITY;
    } else {
        v = ldexpf((float)(man | 0x400u), (int)exp - 25);
    }
    return sign ? -v : v;
}

static float bf16_to_float(uint16_t h)
{
    const uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Element i of a float tensor of any of the four float dtypes (data may be unaligned). */
static float element(const lam_st_tensor *t, int64_t i)
{
    const unsigned char *p = (const unsigned char *)t->data + i * lam__st_dtype_size(t->dtype);
    switch (t->dtype) {
    case LAM_ST_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case LAM_ST_F64: {
        double v;
        memcpy(&v, p, sizeof v);
        return (float)v;
    }
    default: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return t->dtype == LAM_ST_F16 ? half_to_float(h) : bf16_to_float(h);
    }
    }
}

static int is_float(int dtype)
{
    return dtype == LAM_ST_F32 || dtype == LAM_ST_F64 || dtype == LAM_ST_F16 ||
           dtype == LAM_ST_BF16;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* The model tensor a file name means after the prefix is removed, or NULL. */
static const lam_ptensor *model_tensor(const lam_model *m, const char *file_name,
                                       const char *prefix)
{
    size_t pl = prefix != NULL ? strlen(prefix) : 0;
    const char *name = pl > 0 && strncmp(file_name, prefix, pl) == 0 ? file_name + pl
                                                                     : file_name;
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params + l->n_buffers; j++) {
            if (strcmp(l->tensors[j].name, name) == 0) {
                return &l->tensors[j];
            }
        }
    }
    return NULL;
}

/* The file's tensor for a model tensor: its own name, or the prefix and its name. */
static const lam_st_tensor *file_tensor(const lam_st_file *st, const char *name,
                                        const char *prefix)
{
    const lam_st_tensor *t = lam__st_find(st, name);
    if (t == NULL && prefix != NULL && prefix[0] != '\0') {
        char full[LAM_NAME_MAX + 160];
        snprintf(full, sizeof full, "%s%s", prefix, name);
        t = lam__st_find(st, full);
    }
    return t;
}

static lam_status check_tensor(lam_ctx *ctx, const lam_st_file *st, const lam_ptensor *mt,
                               const lam_st_tensor *t)
{
    const char *path = lam__st_path(st);
    char want[96], got[96];
    lam__shape_str(mt->ndim, mt->shape, want, sizeof want);
    if (t == NULL) {
        return lam__error(ctx, LAM_ERR_FORMAT, "%s: the model's '%s' (%s) is missing", path,
                          mt->name, want);
    }
    if (!is_float(t->dtype)) {
        return lam__error(ctx, LAM_ERR_FORMAT, "%s: tensor '%s' is %s, not a float type", path,
                          t->name, lam__st_dtype_name(t->dtype));
    }
    int same = t->ndim == mt->ndim;
    for (int i = 0; same && i < mt->ndim; i++) {
        same = t->shape[i] == mt->shape[i];
    }
    if (!same) {
        lam__shape_str(t->ndim, t->shape, got, sizeof got);
        return lam__error(ctx, LAM_ERR_SHAPE, "%s: tensor '%s' is %s in the file, the model's "
                          "is %s", path, t->name, t->ndim == 0 ? "a scalar" : got, want);
    }
    for (int64_t i = 0; i < t->numel; i++) {
        const float v = element(t, i);
        if (!isfinite(v)) {
            return lam__error(ctx, LAM_ERR_FORMAT, "%s: tensor '%s' element %lld is %s", path,
                              t->name, (long long)i, isnan(v) ? "NaN" : "infinite");
        }
    }
    return LAM_OK;
}

/* A tied tensor (tie=) may be missing from the file, its owner's tensor holding the values;
 * when it is there, it must hold the owner's values, as in a PyTorch state_dict of a tied
 * model (else the model could not be what the file describes). */
static lam_status check_tied(lam_model *m, const lam_st_file *st, const lam_ptensor *mt,
                             const lam_st_tensor *t, const char *prefix)
{
    const lam_st_tensor *o = file_tensor(st, mt->tied->name, prefix);
    for (int64_t e = 0; o != NULL && e < t->numel && e < o->numel; e++) {
        if (element(t, e) != element(o, e)) {
            return lam__error(m->ctx, LAM_ERR_FORMAT, "%s: tensor '%s' differs from '%s' at "
                              "element %lld, but the model ties them (tie=): one matrix",
                              lam__st_path(st), t->name, o->name, (long long)e);
        }
    }
    return LAM_OK;
}

/* Every model tensor is in the file, whole and finite (a tied one may be missing); every
 * file tensor is used, or ignored by rule. */
static lam_status check_all(lam_model *m, const lam_st_file *st, const lam_import_desc *d,
                            lam_import_report *rep)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params + l->n_buffers; j++) {
            const lam_ptensor *mt = &l->tensors[j];
            const lam_st_tensor *t = file_tensor(st, mt->name, d->strip_prefix);
            if (t == NULL && mt->tied != NULL) {
                continue;
            }
            lam_status s = check_tensor(m->ctx, st, mt, t);
            if (s == LAM_OK && mt->tied != NULL) {
                s = check_tied(m, st, mt, t, d->strip_prefix);
            }
            if (s != LAM_OK) {
                return s;
            }
            rep->tensors++;
            rep->converted += t->dtype != LAM_ST_F32;
            rep->floats += t->numel;
        }
    }
    for (int i = 0; i < lam__st_count(st); i++) {
        const lam_st_tensor *t = lam__st_at(st, i);
        if (model_tensor(m, t->name, d->strip_prefix) != NULL) {
            continue;
        }
        /* PyTorch's count of batch-norm updates: lamina's momentum is fixed, as PyTorch's
         * default (momentum=0.1) uses it only when momentum is None */
        if (ends_with(t->name, ".num_batches_tracked") || d->allow_unused) {
            rep->ignored++;
            continue;
        }
        return lam__error(m->ctx, LAM_ERR_FORMAT, "%s: tensor '%s' matches nothing in the "
                          "model (a tensor of another model, or names that differ: see "
                          "lamina info --model SPEC for the model's)",
                          lam__st_path(st), t->name);
    }
    return LAM_OK;
}

lam_status lam_model_import(lam_model *m, const char *path, const lam_import_desc *d,
                            lam_import_report *rep)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    lam_import_desc defaults;
    lam_import_desc_init(&defaults);
    if (d == NULL) {
        d = &defaults;
    }
    if (path == NULL ||
        !lam__reserved_zero(d->reserved, (int)(sizeof d->reserved / sizeof d->reserved[0]))) {
        return lam__error(m->ctx, LAM_ERR_ARG, "import: need a path and an import descriptor "
                          "from lam_import_desc_init");
    }
    lam_import_report local;
    memset(&local, 0, sizeof local);
    lam_st_file *st = NULL;
    lam_status s = lam__st_open(m->ctx, path, &st);
    if (s == LAM_OK) {
        s = check_all(m, st, d, &local);
    }
    for (int i = 0; s == LAM_OK && i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params + l->n_buffers; j++) {
            const lam_ptensor *mt = &l->tensors[j];
            const lam_st_tensor *t = file_tensor(st, mt->name, d->strip_prefix);
            for (int64_t e = 0; t != NULL && e < t->numel; e++) {
                mt->view.w[e] = element(t, e);
            }
        }
    }
    lam__st_close(m->ctx, st);
    if (s == LAM_OK && rep != NULL) {
        *rep = local;
    }
    return s;
}
