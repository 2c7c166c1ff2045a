/* Checkpoints on top of the generic safetensors layer: which tensors and metadata a model,
 * an optimizer and a training run put in a file, and how they are checked when read back.
 * Layout and names are documented in include/lamina/checkpoint.h. */
#include "lamina/checkpoint.h"
#include "model_internal.h"
#include "safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a spec may need beyond the file's float32 tensors before lam_checkpoint_model()
 * refuses it without building the model (see check_spec_size). */
#define CK_SLACK ((int64_t)1 << 16)

struct lam_checkpoint {
    lam_ctx *ctx;
    lam_st_file *st;
};

static void set_entry(lam_st_entry *e, const char *name, int dtype, int ndim,
                      const int64_t *shape, const void *data)
{
    memset(e, 0, sizeof *e);
    e->name = name;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
    }
    e->data = data;
}

lam_status lam_checkpoint_save(lam_model *m, const lam_optim *opt, const char *path,
                               const lam_ckpt_extras *extras)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    lam_ctx *ctx = m->ctx;
    lam_ckpt_extras none = {0};
    const lam_ckpt_extras *ex = extras != NULL ? extras : &none;
    if (path == NULL || ex->n_floats < 0 || ex->n_ints < 0 || ex->n_meta < 0) {
        return lam__error(ctx, LAM_ERR_ARG, "checkpoint: bad arguments");
    }
    for (int i = 0; i < m->n_params; i++) {
        if (!lam__all_finite(m->params[i].w, m->params[i].n)) {
            return lam__error(ctx, LAM_ERR_NUMERIC, "%s: refusing to save: %s holds NaN or Inf",
                              path, m->params[i].name);
        }
    }
    lam_optim *o = (lam_optim *)opt; /* state views are read only here */
    int n_state = o != NULL ? lam_optim_state_count(o) : 0;
    /* every layer's tensors, a tied weight under both names as PyTorch's state_dict has it */
    int n_tensors = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        n_tensors += m->nodes[i].layer->n_params + m->nodes[i].layer->n_buffers;
    }
    int total = n_tensors + n_state + (o != NULL) + 1 + ex->n_floats + ex->n_ints;
    lam_st_entry *e = lam_alloc(ctx, (size_t)total * sizeof *e);
    char *names = lam_alloc(ctx, (size_t)(n_state + 1) * 96);
    int64_t *t_opt = lam_alloc(ctx, 2 * sizeof(int64_t));
    if (e == NULL || names == NULL || t_opt == NULL) {
        lam_free(ctx, e);
        lam_free(ctx, names);
        lam_free(ctx, t_opt);
        return LAM_ERR_NOMEM;
    }
    int k = 0, nn = 0;
    int64_t shape[4];
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params + l->n_buffers; j++) {
            const lam_ptensor *t = &l->tensors[j];
            set_entry(&e[k++], t->name, LAM_ST_F32, t->ndim, t->shape, t->view.w);
        }
    }
    for (int i = 0; i < n_state; i++) {
        const char *sn;
        float *data;
        int64_t n;
        lam_optim_state_get(o, i, &sn, &data, &n);
        char *nm = names + 96 * nn++;
        snprintf(nm, 96, "optim.%s", sn);
        shape[0] = n;
        set_entry(&e[k++], nm, LAM_ST_F32, 1, shape, data);
    }
    t_opt[0] = o != NULL ? lam_optim_get_step(o) : 0;
    t_opt[1] = m->step;
    if (o != NULL) {
        set_entry(&e[k++], "optim.t", LAM_ST_I64, 0, shape, &t_opt[0]);
    }
    set_entry(&e[k++], "model.step", LAM_ST_I64, 0, shape, &t_opt[1]);
    for (int i = 0; i < ex->n_floats; i++) {
        shape[0] = ex->floats[i].n;
        set_entry(&e[k++], ex->floats[i].name, LAM_ST_F32, 1, shape, ex->floats[i].data);
    }
    for (int i = 0; i < ex->n_ints; i++) {
        set_entry(&e[k++], ex->int_names[i], LAM_ST_I64, 0, shape, &ex->ints[i]);
    }

    /* metadata: ours first, then the caller's */
    enum { OWN = 4 };
    const char **keys = lam_alloc(ctx, (size_t)(OWN + ex->n_meta) * 2 * sizeof(char *));
    lam_status st = LAM_ERR_NOMEM;
    if (keys != NULL) {
        const char **vals = keys + OWN + ex->n_meta;
        char input[96], n_out[32];
        lam__shape_str(m->in.ndim, m->in.dim, input, sizeof input);
        snprintf(n_out, sizeof n_out, "%" PRId64, m->n_out);
        keys[0] = "lamina.format";
        vals[0] = "1";
        keys[1] = "lamina.spec";
        vals[1] = m->spec;
        keys[2] = "lamina.input";
        vals[2] = input;
        keys[3] = "lamina.n_out";
        vals[3] = n_out;
        for (int i = 0; i < ex->n_meta; i++) {
            keys[OWN + i] = ex->meta_keys[i];
            vals[OWN + i] = ex->meta_vals[i];
        }
        st = lam__st_write(ctx, path, e, k, keys, vals, OWN + ex->n_meta, NULL);
        lam_free(ctx, (void *)keys);
    }
    lam_free(ctx, e);
    lam_free(ctx, names);
    lam_free(ctx, t_opt);
    return st;
}

lam_status lam_checkpoint_open(lam_ctx *ctx, const char *path, lam_checkpoint **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    if (path == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "checkpoint: NULL path");
    }
    lam_checkpoint *ck = lam_alloc(ctx, sizeof *ck);
    if (ck == NULL) {
        return LAM_ERR_NOMEM;
    }
    ck->ctx = ctx;
    ck->st = NULL;
    lam_status st = lam__st_open(ctx, path, &ck->st);
    if (st == LAM_OK && lam_checkpoint_meta(ck, "lamina.spec") == NULL) {
        st = lam__error(ctx, LAM_ERR_FORMAT, "%s: not a lamina checkpoint (no lamina.spec)",
                        path);
    }
    if (st != LAM_OK) {
        lam_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return LAM_OK;
}

void lam_checkpoint_close(lam_checkpoint *ck)
{
    if (ck != NULL) {
        lam__st_close(ck->ctx, ck->st);
        lam_free(ck->ctx, ck);
    }
}

const char *lam_checkpoint_meta(const lam_checkpoint *ck, const char *key)
{
    return ck != NULL && key != NULL ? lam__st_meta(ck->st, key) : NULL;
}

/* Parse "CxHxW" or "F" into a shape. */
static int parse_input(const char *s, int *ndim, int64_t shape[3])
{
    int n = 0;
    while (s != NULL && *s != '\0' && n < 3) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1 || v > (1LL << 40)) {
            return 0;
        }
        shape[n++] = v;
        if (*end == '\0') {
            break;
        }
        if (*end != 'x') {
            return 0;
        }
        s = end + 1;
    }
    *ndim = n;
    return n >= 1 && n <= 3;
}

/* A checkpoint must hold every parameter and buffer of the model it describes, so a spec
 * needing far more float32 bytes than the file's tensors hold is rejected before the model
 * (and its weights, sized by the spec alone) is allocated: a 200-byte file must not make us
 * allocate gigabytes. A shortfall within CK_SLACK is left to the per-tensor checks, whose
 * message names the missing tensor. */
static lam_status check_spec_size(lam_checkpoint *ck, const char *spec, int ndim,
                                  const int64_t *shape, int64_t n_out)
{
    int64_t need = -1;
    lam_status st = lam__spec_param_floats(ck->ctx, spec, ndim, shape, n_out, &need);
    if (st == LAM_ERR_NOMEM) {
        return st;
    }
    int64_t have = 0;
    for (int i = 0; i < lam__st_count(ck->st); i++) {
        const lam_st_tensor *t = lam__st_at(ck->st, i);
        have += t->dtype == LAM_ST_F32 ? t->nbytes : 0;
    }
    if (need >= 0 && lam__sat_mul(need, (int64_t)sizeof(float)) > lam__sat_add(have, CK_SLACK)) {
        return lam__error(ck->ctx, LAM_ERR_FORMAT,
                          "%s: lamina.spec needs %lld bytes of float32 weights on input %s, "
                          "the file holds %lld", lam__st_path(ck->st),
                          (long long)lam__sat_mul(need, (int64_t)sizeof(float)),
                          lam_checkpoint_meta(ck, "lamina.input"), (long long)have);
    }
    return LAM_OK;
}

lam_status lam_checkpoint_model(lam_checkpoint *ck, int64_t max_batch, lam_model **out)
{
    if (ck == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    const char *path = lam__st_path(ck->st);
    const char *spec = lam_checkpoint_meta(ck, "lamina.spec");
    const char *input = lam_checkpoint_meta(ck, "lamina.input");
    const char *n_out_s = lam_checkpoint_meta(ck, "lamina.n_out");
    int ndim = 0;
    int64_t shape[3];
    char *end = NULL;
    long long n_out = n_out_s != NULL ? strtoll(n_out_s, &end, 10) : -1;
    if (spec == NULL || !parse_input(input, &ndim, shape) || n_out < 0 || *end != '\0') {
        return lam__error(ck->ctx, LAM_ERR_FORMAT, "%s: bad lamina.input or lamina.n_out", path);
    }
    lam_model *m = NULL;
    lam_status st = check_spec_size(ck, spec, ndim, shape, n_out);
    if (st == LAM_OK) {
        st = lam_model_create(ck->ctx, spec, ndim, shape, n_out, max_batch, &m);
        if (st != LAM_OK) {
            /* the model's message (e.g. a spec syntax error) does not name the file */
            char detail[LAM_ERRMSG_MAX];
            snprintf(detail, sizeof detail, "%s", lam_ctx_errmsg(ck->ctx));
            lam__error(ck->ctx, st, "%s: %s", path, detail);
        }
    }
    if (st == LAM_OK) {
        st = lam_checkpoint_load_weights(ck, m);
    }
    if (st != LAM_OK) {
        lam_model_destroy(m);
        return st;
    }
    *out = m;
    return LAM_OK;
}

/* Every value of F32 tensor `name` (already checked to exist) is finite. Saves refuse NaN,
 * so a non-finite value means a damaged or foreign file: it must not reach the weights or
 * the optimizer state, where it would poison every later step. */
static lam_status check_finite(lam_checkpoint *ck, const char *name)
{
    const lam_st_tensor *t = lam__st_find(ck->st, name);
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        float v;
        memcpy(&v, p + (size_t)i * sizeof v, sizeof v); /* foreign files may be unaligned */
        if (!isfinite(v)) {
            return lam__error(ck->ctx, LAM_ERR_FORMAT, "%s: tensor '%s' element %lld is %s",
                              lam__st_path(ck->st), name, (long long)i,
                              isnan(v) ? "NaN" : "infinite");
        }
    }
    return LAM_OK;
}

/* Check (copy = 0) or copy (copy = 1) every parameter and buffer of m from the file. */
static lam_status weights_pass(lam_checkpoint *ck, lam_model *m, int copy)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params + l->n_buffers; j++) {
            const lam_ptensor *t = &l->tensors[j];
            int64_t bytes = (int64_t)sizeof(float) * t->view.n;
            lam_status st = copy ? lam__st_copy(ck->ctx, ck->st, t->name, LAM_ST_F32, t->ndim,
                                                t->shape, t->view.w, bytes)
                                 : lam__st_check(ck->ctx, ck->st, t->name, LAM_ST_F32, t->ndim,
                                                 t->shape, bytes);
            if (st == LAM_OK && !copy) {
                st = check_finite(ck, t->name);
            }
            if (st != LAM_OK) {
                return st;
            }
        }
    }
    return LAM_OK;
}

lam_status lam_checkpoint_load_weights(lam_checkpoint *ck, lam_model *m)
{
    if (ck == NULL || m == NULL) {
        return LAM_ERR_ARG;
    }
    lam_status st = weights_pass(ck, m, 0);
    if (st == LAM_OK) {
        st = weights_pass(ck, m, 1);
    }
    int64_t step = 0;
    if (st == LAM_OK && lam_checkpoint_int(ck, "model.step", &step) == LAM_OK) {
        m->step = step;
    }
    return st;
}

int lam_checkpoint_has_optim(const lam_checkpoint *ck)
{
    return ck != NULL && lam__st_find(ck->st, "optim.t") != NULL;
}

lam_status lam_checkpoint_load_optim(lam_checkpoint *ck, lam_optim *opt)
{
    if (ck == NULL || opt == NULL) {
        return LAM_ERR_ARG;
    }
    int64_t t = 0;
    lam_status st = lam_checkpoint_int(ck, "optim.t", &t);
    for (int pass = 0; st == LAM_OK && pass < 2; pass++) {
        for (int i = 0; st == LAM_OK && i < lam_optim_state_count(opt); i++) {
            const char *sn;
            float *data;
            int64_t n;
            char nm[96];
            lam_optim_state_get(opt, i, &sn, &data, &n);
            snprintf(nm, sizeof nm, "optim.%s", sn);
            int64_t bytes = (int64_t)sizeof(float) * n;
            st = pass ? lam__st_copy(ck->ctx, ck->st, nm, LAM_ST_F32, 1, &n, data, bytes)
                      : lam__st_check(ck->ctx, ck->st, nm, LAM_ST_F32, 1, &n, bytes);
            if (st == LAM_OK && !pass) {
                st = check_finite(ck, nm);
            }
        }
    }
    if (st == LAM_OK) {
        st = lam_optim_set_step(opt, t);
    }
    return st;
}

lam_status lam_checkpoint_floats(lam_checkpoint *ck, const char *name, float *dst, int64_t n)
{
    if (ck == NULL || name == NULL || dst == NULL) {
        return LAM_ERR_ARG;
    }
    return lam__st_copy(ck->ctx, ck->st, name, LAM_ST_F32, 1, &n, dst,
                        (int64_t)sizeof(float) * n);
}

int64_t lam_checkpoint_floats_len(const lam_checkpoint *ck, const char *name)
{
    const lam_st_tensor *t = ck != NULL && name != NULL ? lam__st_find(ck->st, name) : NULL;
    return t != NULL && t->dtype == LAM_ST_F32 && t->ndim == 1 ? t->shape[0] : -1;
}

lam_status lam_checkpoint_int(lam_checkpoint *ck, const char *name, int64_t *v)
{
    if (ck == NULL || name == NULL || v == NULL) {
        return LAM_ERR_ARG;
    }
    return lam__st_copy(ck->ctx, ck->st, name, LAM_ST_I64, 0, NULL, v, (int64_t)sizeof *v);
}
