/* rnn, lstm and gru: PyTorch's nn.RNN/LSTM/GRU with batch_first=True. A (T, D) sample gives
 * (T, dirs*H), every step's output (out=seq), or (dirs*H), the last step's (out=last, what
 * output[:, -1, :] is in PyTorch). Options: stacked layers, dropout between them,
 * bidirectional. Tensors and their names are PyTorch's: weight_ih_l0 (G*H, D), weight_hh_l0
 * (G*H, H), bias_ih_l0, bias_hh_l0, with _reverse for the second direction.
 *
 * The layer works time-major, (T, N, features), so that every step's rows are one matrix:
 *   forward, per layer:  g = X W_ih^T + b      one product over all T*N rows (lamina's
 *                                               AVX-512 GEMM, fixed 128-row blocks)
 *                        the recurrence         per chunk of rows (kernels/rnn.c), all steps
 *   backward, per layer: the recurrence         dG per chunk, all steps
 *                        dX = dG W_ih           as the forward's product
 *                        dW_ih += dG^T X, dW_hh += dG^T H'  one GEMM each over all T*N
 *                                               rows (the linear kernel, on BLAS)
 * Every product is cut into blocks fixed by the shape (rows here, columns in the linear
 * kernel) and the recurrence runs fixed chunks of rows, so results are the same for any
 * thread count.
 *
 * The carried state (lam_model_states): h_n (and c_n) of (layers*dirs, max_batch, H), as
 * PyTorch returns them. Every forward writes its final states there; with carry set, it
 * also starts from them (truncated BPTT). No gradient flows into an initial state. */
#include "layer_internal.h"

#include <stdio.h>
#include <string.h>

/* Rows of the batch per recurrence item: fixed (results cannot depend on the threads), and
 * a multiple of the GEMM tiles' 8 rows. */
#define RNN_CHUNK 16

#define MAX_SEQ (2 * LAM_RNN_MAX_LAYERS)

typedef struct rnn_state {
    int cell, layers, dirs, last_only, bias;
    int64_t T, D, H, G, nmax;
    float p;                         /* dropout between layers */
    lam_rnn_seq seq[MAX_SEQ];        /* per (layer, direction): buffers and geometry */
    float *whh_t[MAX_SEQ];           /* W_hh transposed, refreshed every forward */
    float *bsum[MAX_SEQ];            /* b_ih + b_hh (rnn, lstm: one bias for the projection) */
    float *xin[LAM_RNN_MAX_LAYERS];  /* (T, N, in) each layer's input: x transposed for layer
                                      * 0, the layer below's outputs (after dropout) above */
    float *dbuf[2];                  /* (T, N, max(D, dirs*H)) input gradients, ping-pong */
    float *wih_t[MAX_SEQ];           /* W_ih transposed, refreshed every forward */
    const float *pbias[MAX_SEQ];     /* the projection's bias (b_ih, or b_ih + b_hh), or NULL */
    float *dtop;                     /* (T, N, dirs*H) the output gradient, time-major */
    float *mask[LAM_RNN_MAX_LAYERS]; /* dropout masks of layer l >= 1's input (p > 0) */
    float *state[2];                 /* h_n, c_n: (layers*dirs, nmax, H) */
    char state_name[2][LAM_NAME_MAX + 8];
} rnn_state;

/* Parameter tensor k (0 w_ih, 1 w_hh, 2 b_ih, 3 b_hh) of (layer, dir). */
static lam_param *rnn_param(lam_layer *l, int layer, int dir, int k)
{
    const rnn_state *s = l->state;
    return lam__param(l, (layer * s->dirs + dir) * (s->bias ? 4 : 2) + k);
}

static int64_t layer_in(const rnn_state *s, int layer)
{
    return layer == 0 ? s->D : s->dirs * s->H;
}

/* The slot of a direction's initial state and of its last output, and of step t's output. */
static int64_t init_slot(const rnn_state *s, int dir)
{
    return dir ? s->T : 0;
}

static int64_t final_slot(const rnn_state *s, int dir)
{
    return dir ? 0 : s->T;
}

static int64_t step_slot(int dir, int64_t t)
{
    return dir ? t : t + 1;
}

/* ----------------------------------------------------------------- passes */

/* Threads of the layer's passes: one when GEMMs must run outside lamina's regions (a
 * pthreads BLAS, lam__gemm_outside). */
static int pass_threads(const lam_layer *l)
{
    return lam__gemm_outside(l->ctx) ? 1 : lam_ctx_threads(l->ctx);
}

/* Rows of T steps of w floats each between batch-major (n, T, w) and time-major (T, n, w);
 * to_time selects the direction. */
static void swap_major(const float *src, float *dst, int64_t n, int64_t T, int64_t w, int to_time)
{
    for (int64_t r = 0; r < n; r++) {
        for (int64_t t = 0; t < T; t++) {
            const int64_t bm = (r * T + t) * w, tm = (t * n + r) * w;
            memcpy(dst + (to_time ? tm : bm), src + (to_time ? bm : tm), (size_t)w * sizeof(float));
        }
    }
}

typedef struct rnn_pass {
    lam_layer *l;
    int layer, isa;
    int64_t n, chunks;
    int bwd;
} rnn_pass;

/* Item (dir, chunk): the whole sequence of the chunk's rows. */
static void item_seq(const void *arg, int64_t item, int lane)
{
    const rnn_pass *ps = arg;
    (void)lane;
    const rnn_state *s = ps->l->state;
    const lam_rnn_seq *q = &s->seq[ps->layer * s->dirs + item / ps->chunks];
    const int64_t r0 = item % ps->chunks * RNN_CHUNK;
    const int64_t r1 = r0 + RNN_CHUNK < ps->n ? r0 + RNN_CHUNK : ps->n;
    if (ps->bwd) {
        ps->l->k->rnn_seq_bwd(q, r0, r1, ps->isa);
    } else {
        ps->l->k->rnn_seq_fwd(q, r0, r1, ps->isa);
    }
}

static void run_recurrence(lam_layer *l, int layer, int64_t n, int bwd)
{
    const rnn_state *s = l->state;
    const int64_t chunks = (n + RNN_CHUNK - 1) / RNN_CHUNK;
    const rnn_pass ps = {l, layer, lam__best_isa(), n, chunks, bwd};
    const lam_phase ph = {item_seq, s->dirs * chunks, 1};
    lam__run_phases(pass_threads(l), &ps, &ph, 1);
}

/* The input projections and the input gradient, over all T*N rows, in fixed blocks of rows
 * (so the thread count cannot change a bit) through lamina's unpacked GEMM: on AVX-512 it
 * ran these shapes 1.4-1.9x faster than the OpenBLAS this machine runs (Haswell kernels),
 * though not the weight gradients' (transposed A, K = T*N), which stay on BLAS (linear
 * kernel). */
#define PROJ_ROWS 128

typedef struct proj_pass {
    lam_layer *l;
    int layer, isa;
    int64_t rows, blocks;
    float *dx; /* backward: the layer input's gradient (rows, in) */
} proj_pass;

/* Forward item (dir, block): g = x W_ih^T + bias. */
static void item_proj_fwd(const void *arg, int64_t item, int lane)
{
    const proj_pass *ps = arg;
    (void)lane;
    const rnn_state *s = ps->l->state;
    const int sq = ps->layer * s->dirs + (int)(item / ps->blocks);
    const int64_t in = layer_in(s, ps->layer), GH = s->G * s->H;
    const int64_t r0 = item % ps->blocks * PROJ_ROWS;
    const int64_t rows = r0 + PROJ_ROWS < ps->rows ? PROJ_ROWS : ps->rows - r0;
    float *g = s->seq[sq].g + r0 * GH;
    for (int64_t i = 0; i < rows; i++) {
        if (s->pbias[sq] != NULL) {
            memcpy(g + i * GH, s->pbias[sq], (size_t)GH * sizeof(float));
        } else {
            memset(g + i * GH, 0, (size_t)GH * sizeof(float));
        }
    }
    (void)ps->l->k->isa_gemm(ps->isa, 0, 0, rows, GH, in, s->xin[ps->layer] + r0 * in, in,
                             s->wih_t[sq], GH, 1.0f, g, GH);
}

/* Backward item (block): dx = sum over directions of dG W_ih, in direction order. */
static void item_proj_bwd(const void *arg, int64_t item, int lane)
{
    const proj_pass *ps = arg;
    (void)lane;
    lam_layer *l = ps->l;
    const rnn_state *s = l->state;
    const int64_t in = layer_in(s, ps->layer), GH = s->G * s->H;
    const int64_t r0 = item * PROJ_ROWS;
    const int64_t rows = r0 + PROJ_ROWS < ps->rows ? PROJ_ROWS : ps->rows - r0;
    for (int d = 0; d < s->dirs; d++) {
        const int sq = ps->layer * s->dirs + d;
        (void)l->k->isa_gemm(ps->isa, 0, 0, rows, in, GH, s->seq[sq].g + r0 * GH, GH,
                             rnn_param(l, ps->layer, d, 0)->w, in, d ? 1.0f : 0.0f,
                             ps->dx + r0 * in, in);
    }
}

static void run_projection(lam_layer *l, int layer, int64_t n, float *dx)
{
    const rnn_state *s = l->state;
    const int64_t rows = s->T * n, blocks = (rows + PROJ_ROWS - 1) / PROJ_ROWS;
    const proj_pass ps = {l, layer, lam__best_isa(), rows, blocks, dx};
    const lam_phase ph = {dx != NULL ? item_proj_bwd : item_proj_fwd,
                          dx != NULL ? blocks : s->dirs * blocks, 1};
    lam__run_phases(pass_threads(l), &ps, &ph, 1);
}

/* Dropout between layers: layer `layer`'s input is the outputs below times a mask of 0 or
 * 1/(1-p), kept for backward. Its values come from the counter-based RNG keyed by (seed,
 * layer stream and step), four per Philox block, at positions counted in max_batch rows so a
 * position's draw does not depend on the batch size. */
static void make_mask(lam_layer *l, int layer, int64_t n)
{
    const rnn_state *s = l->state;
    const int64_t width = s->dirs * s->H;
    const uint64_t seed = lam_ctx_seed(l->ctx), stream = (l->stream << 40) ^ (uint64_t)l->step;
    const float keep = 1.0f / (1.0f - s->p);
    float *mask = s->mask[layer];
    for (int64_t t = 0; t < s->T; t++) {
        for (int64_t r = 0; r < n; r++) {
            float *mr = mask + (t * n + r) * width;
            const uint64_t first = (uint64_t)((((int64_t)layer * s->T + t) * s->nmax + r) * width);
            for (int64_t c = 0; c < width; c += 4) {
                float u[4];
                lam__rng_uniform4(seed, stream, (first + (uint64_t)c) / 4, u);
                for (int64_t k = 0; k < 4 && c + k < width; k++) {
                    mr[c + k] = u[k] < s->p ? 0.0f : keep;
                }
            }
        }
    }
}

/* xin[layer + 1] = the outputs of layer `layer`, both directions side by side, dropped out
 * when training. */
static void next_input(lam_layer *l, int layer, int64_t n, int train)
{
    const rnn_state *s = l->state;
    const int64_t H = s->H, width = s->dirs * H;
    const int drop = train && s->p > 0.0f;
    float *x = s->xin[layer + 1];
    if (drop) {
        make_mask(l, layer + 1, n);
    }
    for (int d = 0; d < s->dirs; d++) {
        const float *hs = s->seq[layer * s->dirs + d].hs;
        for (int64_t t = 0; t < s->T; t++) {
            for (int64_t r = 0; r < n; r++) {
                const float *h = hs + (step_slot(d, t) * n + r) * H;
                float *o = x + (t * n + r) * width + d * H;
                if (drop) {
                    const float *m = s->mask[layer + 1] + (t * n + r) * width + d * H;
                    for (int64_t j = 0; j < H; j++) {
                        o[j] = h[j] * m[j];
                    }
                } else {
                    memcpy(o, h, (size_t)H * sizeof(float));
                }
            }
        }
    }
}

/* Set up (layer, dir)'s sequence for batch n: buffers sized for nmax, laid out for n. */
static void bind_seq(rnn_state *s, lam_layer *l, int layer, int dir, int64_t n)
{
    lam_rnn_seq *q = &s->seq[layer * s->dirs + dir];
    q->n = n;
    q->whh = rnn_param(l, layer, dir, 1)->w;
    q->whh_t = s->whh_t[layer * s->dirs + dir];
    q->bhh = s->bias ? rnn_param(l, layer, dir, 3)->w : NULL;
}

static lam_status rnn_forward(lam_layer *l, const float *const *x, float *y, int64_t n, int train)
{
    rnn_state *s = l->state;
    const int64_t T = s->T, H = s->H, GH = s->G * H, width = s->dirs * H;
    swap_major(x[0], s->xin[0], n, T, s->D, 1); /* layer 0's input, time-major */
    for (int layer = 0; layer < s->layers; layer++) {
        for (int d = 0; d < s->dirs; d++) {
            const int sq = layer * s->dirs + d;
            lam_rnn_seq *q = &s->seq[sq];
            bind_seq(s, l, layer, d, n);
            lam__transpose_isa(LAM_ISA_AUTO, GH, H, q->whh, H, s->whh_t[sq], GH);
            lam__transpose_isa(LAM_ISA_AUTO, GH, layer_in(s, layer), rnn_param(l, layer, d, 0)->w,
                               layer_in(s, layer), s->wih_t[sq], GH);
            s->pbias[sq] = NULL;
            if (s->bias && s->cell == LAM_CELL_GRU) {
                s->pbias[sq] = rnn_param(l, layer, d, 2)->w;
            } else if (s->bias) {
                const float *bi = rnn_param(l, layer, d, 2)->w, *bh = rnn_param(l, layer, d, 3)->w;
                for (int64_t j = 0; j < GH; j++) {
                    s->bsum[sq][j] = bi[j] + bh[j];
                }
                s->pbias[sq] = s->bsum[sq];
            }
            /* the initial state: the carried one, or zeros */
            for (int c = 0; c < (s->cell == LAM_CELL_LSTM ? 2 : 1); c++) {
                float *slot = (c ? q->cs : q->hs) + init_slot(s, d) * n * H;
                if (l->carry) {
                    memcpy(slot, s->state[c] + sq * s->nmax * H, (size_t)(n * H) * sizeof(float));
                } else {
                    memset(slot, 0, (size_t)(n * H) * sizeof(float));
                }
            }
        }
        run_projection(l, layer, n, NULL);
        run_recurrence(l, layer, n, 0);
        for (int d = 0; d < s->dirs; d++) {
            const int sq = layer * s->dirs + d;
            for (int c = 0; c < (s->cell == LAM_CELL_LSTM ? 2 : 1); c++) {
                memcpy(s->state[c] + sq * s->nmax * H,
                       (c ? s->seq[sq].cs : s->seq[sq].hs) + final_slot(s, d) * n * H,
                       (size_t)(n * H) * sizeof(float));
            }
        }
        if (layer + 1 < s->layers) {
            next_input(l, layer, n, train);
        }
    }
    /* the output, batch-major: every step, or the last */
    const int top = (s->layers - 1) * s->dirs;
    for (int d = 0; d < s->dirs; d++) {
        const float *hs = s->seq[top + d].hs;
        for (int64_t r = 0; r < n; r++) {
            for (int64_t t = s->last_only ? T - 1 : 0; t < T; t++) {
                float *o = y + (s->last_only ? r * width : (r * T + t) * width) + d * H;
                memcpy(o, hs + (step_slot(d, t) * n + r) * H, (size_t)H * sizeof(float));
            }
        }
    }
    return LAM_OK;
}

static lam_status rnn_backward(lam_layer *l, const float *const *x, const float *y, const float *dy,
                               float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    rnn_state *s = l->state;
    const int64_t T = s->T, H = s->H, GH = s->G * H, width = s->dirs * H;
    const int nt = pass_threads(l);
    /* the output gradient, time-major (out=last: zero but at the last step) */
    if (s->last_only) {
        memset(s->dtop, 0, (size_t)((T - 1) * n * width) * sizeof(float));
        memcpy(s->dtop + (T - 1) * n * width, dy, (size_t)(n * width) * sizeof(float));
    } else {
        swap_major(dy, s->dtop, n, T, width, 1);
    }
    const float *dtop = s->dtop;
    for (int layer = s->layers - 1; layer >= 0; layer--) {
        const int64_t in = layer_in(s, layer);
        float *dxl = s->dbuf[layer & 1];
        const int need_dx = layer > 0 || dx[0] != NULL;
        for (int d = 0; d < s->dirs; d++) {
            lam_rnn_seq *q = &s->seq[layer * s->dirs + d];
            q->dy = dtop + d * H;
            q->ldd = width;
        }
        run_recurrence(l, layer, n, 1);
        for (int d = 0; d < s->dirs; d++) {
            const lam_rnn_seq *q = &s->seq[layer * s->dirs + d];
            float *db_ih = s->bias ? rnn_param(l, layer, d, 2)->g : NULL;
            float *db_hh = s->bias ? rnn_param(l, layer, d, 3)->g : NULL;
            l->k->linear_fused_bwd(T * n, in, GH, LAM_ACT_NONE, s->xin[layer],
                                   rnn_param(l, layer, d, 0)->w, NULL, q->g, NULL,
                                   rnn_param(l, layer, d, 0)->g, db_ih, nt);
            /* the previous states of all steps: slots 0..T-1 forward, 1..T reverse */
            l->k->linear_fused_bwd(T * n, H, GH, LAM_ACT_NONE, q->hs + (d ? n * H : 0), q->whh,
                                   NULL, s->cell == LAM_CELL_GRU ? q->gh : q->g, NULL,
                                   rnn_param(l, layer, d, 1)->g, db_hh, nt);
        }
        if (need_dx) {
            run_projection(l, layer, n, dxl);
        }
        if (layer > 0 && s->p > 0.0f) {
            /* through the dropout between this layer and the one below */
            const float *m = s->mask[layer];
            for (int64_t i = 0; i < T * n * in; i++) {
                dxl[i] *= m[i];
            }
        }
        dtop = dxl;
    }
    if (dx[0] != NULL) {
        swap_major(dtop, dx[0], n, T, s->D, 0);
    }
    return LAM_OK;
}

static unsigned rnn_reads(const lam_layer *l)
{
    (void)l;
    return 0; /* the layer keeps its own time-major copy of x and its states */
}

static int rnn_states(lam_layer *l, lam_param *out)
{
    rnn_state *s = l->state;
    const int count = s->cell == LAM_CELL_LSTM ? 2 : 1;
    for (int c = 0; c < count; c++) {
        snprintf(s->state_name[c], sizeof s->state_name[c], "%s.%s", l->name, c ? "c_n" : "h_n");
        out[c] = (lam_param){0};
        out[c].name = s->state_name[c];
        out[c].w = s->state[c];
        out[c].n = (int64_t)s->layers * s->dirs * s->nmax * s->H;
    }
    return count;
}

/* ------------------------------------------------------------------ setup */

static lam_status alloc_buffers(lam_layer *l)
{
    rnn_state *s = l->state;
    const int64_t T = s->T, N = s->nmax, H = s->H, GH = s->G * H, width = s->dirs * H;
    const int64_t widest = s->D > width ? s->D : width;
    int ok = 1;
#define SCRATCH(p, count) ok = ok && ((p) = lam__layer_scratch(l, (count))) != NULL
    for (int layer = 0; layer < s->layers; layer++) {
        SCRATCH(s->xin[layer], T * N * layer_in(s, layer));
        if (layer > 0 && s->p > 0.0f) {
            SCRATCH(s->mask[layer], T * N * width);
        }
        for (int d = 0; d < s->dirs; d++) {
            const int sq = layer * s->dirs + d;
            lam_rnn_seq *q = &s->seq[sq];
            q->cell = s->cell;
            q->reverse = d;
            q->t = T;
            q->h = H;
            SCRATCH(q->g, T * N * GH);
            SCRATCH(q->hs, (T + 1) * N * H);
            SCRATCH(q->carry_h, N * H);
            SCRATCH(q->dh_row, N * H);
            SCRATCH(s->whh_t[sq], GH * H);
            SCRATCH(s->wih_t[sq], GH * layer_in(s, layer));
            if (s->cell == LAM_CELL_GRU) {
                SCRATCH(q->gh, T * N * GH);
            } else {
                SCRATCH(s->bsum[sq], GH);
            }
            if (s->cell == LAM_CELL_LSTM) {
                SCRATCH(q->cs, (T + 1) * N * H);
                SCRATCH(q->carry_c, N * H);
            }
        }
    }
    SCRATCH(s->dbuf[0], T * N * widest);
    SCRATCH(s->dbuf[1], T * N * widest);
    SCRATCH(s->dtop, T * N * width);
    for (int c = 0; c < (s->cell == LAM_CELL_LSTM ? 2 : 1); c++) {
        SCRATCH(s->state[c], (int64_t)s->layers * s->dirs * N * H);
    }
#undef SCRATCH
    return ok ? LAM_OK : LAM_ERR_NOMEM;
}

static void rnn_destroy(lam_layer *l)
{
    rnn_state *s = l->state;
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < MAX_SEQ; i++) {
        lam_rnn_seq *q = &s->seq[i];
        lam_free(l->ctx, q->g);
        lam_free(l->ctx, q->gh);
        lam_free(l->ctx, q->hs);
        lam_free(l->ctx, q->cs);
        lam_free(l->ctx, q->carry_h);
        lam_free(l->ctx, q->carry_c);
        lam_free(l->ctx, q->dh_row);
        lam_free(l->ctx, s->whh_t[i]);
        lam_free(l->ctx, s->wih_t[i]);
        lam_free(l->ctx, s->bsum[i]);
    }
    for (int i = 0; i < LAM_RNN_MAX_LAYERS; i++) {
        lam_free(l->ctx, s->xin[i]);
        lam_free(l->ctx, s->mask[i]);
    }
    lam_free(l->ctx, s->dbuf[0]);
    lam_free(l->ctx, s->dbuf[1]);
    lam_free(l->ctx, s->dtop);
    lam_free(l->ctx, s->state[0]);
    lam_free(l->ctx, s->state[1]);
}

static lam_status declare_tensors(lam_layer *l)
{
    const rnn_state *s = l->state;
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int layer = 0; layer < s->layers; layer++) {
        for (int d = 0; d < s->dirs; d++) {
            for (int k = 0; k < (s->bias ? 4 : 2); k++) {
                char suffix[48];
                snprintf(suffix, sizeof suffix, "%s_l%d%s", kinds[k], layer, d ? "_reverse" : "");
                const int64_t shape[2] = {s->G * s->H, k == 0 ? layer_in(s, layer) : s->H};
                /* PyTorch draws every tensor from U(-1/sqrt(H), 1/sqrt(H)): fan_in H */
                lam_status st = lam__layer_tensor(l, suffix, 0, k < 2 ? 2 : 1, shape, s->H,
                                                  s->G * s->H, k >= 2);
                if (st != LAM_OK) {
                    return st;
                }
            }
        }
    }
    return LAM_OK;
}

static lam_status rnn_setup(lam_layer *l)
{
    const lam_shape *in = &l->in[0];
    const lam_layer_desc *d = &l->desc;
    char sh[64];
    if (in->ndim != 2) {
        return lam__layer_error(l, LAM_ERR_SHAPE,
                                "input is %s; a recurrent layer takes (T, D) "
                                "sequences (an embedding gives them from token ids)",
                                lam__shape_str(in->ndim, in->dim, sh, sizeof sh));
    }
    const int layers = d->layers > 0 ? d->layers : 1;
    if (d->out < 1 || layers > LAM_RNN_MAX_LAYERS || d->bidirectional < 0 || d->bidirectional > 1 ||
        !(d->alpha >= 0.0f && d->alpha < 1.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "hidden %lld, %d layers (1..%d), dropout %g",
                                (long long)d->out, layers, LAM_RNN_MAX_LAYERS, (double)d->alpha);
    }
    rnn_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->cell = lam__cell_of(d);
    s->layers = layers;
    s->dirs = d->bidirectional ? 2 : 1;
    s->last_only = d->last_only != 0;
    s->bias = d->bias != 0;
    s->T = in->dim[0];
    s->D = in->dim[1];
    s->H = d->out;
    s->G = lam__cell_gates(s->cell);
    s->nmax = l->max_batch;
    s->p = d->alpha;
    const int64_t width = s->dirs * s->H;
    int64_t rows, big;
    /* BLAS dimensions are int: every GEMM has T*N rows of at most G*H or D columns */
    if (lam__mul_i64(s->T, s->nmax, &rows) ||
        lam__mul_i64(rows, s->G * s->H + s->D + width, &big) || big > INT32_MAX) {
        return lam__layer_error(l, LAM_ERR_RANGE, "%lld steps x %lld rows is too large",
                                (long long)s->T, (long long)s->nmax);
    }
    l->out = s->last_only ? (lam_shape){1, {width, 1, 1}} : (lam_shape){2, {s->T, width, 1}};
    int64_t flops = 0;
    for (int layer = 0; layer < layers; layer++) {
        flops += 2 * s->T * s->G * s->H * (layer_in(s, layer) + s->H) * s->dirs;
    }
    l->flops = flops;
    snprintf(l->strategy, sizeof l->strategy, "time-major, %d-row chunks", RNN_CHUNK);
    lam_status st = declare_tensors(l);
    return st == LAM_OK ? alloc_buffers(l) : st;
}

#define RNN_KIND(ID, NAME)                                                                         \
    {                                                                                              \
        .id = ID, .name = NAME, .min_in = 1, .max_in = 1, .flags = LAM_KIND_WHOLE_BATCH,         \
        .setup = rnn_setup,                                                                        \
        .init = lam__layer_init_uniform, .forward = rnn_forward, .backward = rnn_backward,         \
        .reads = rnn_reads, .states = rnn_states, .destroy = rnn_destroy,                          \
    }
const lam_kind lam__kind_rnn = RNN_KIND(LAM_LAYER_RNN, "rnn");
const lam_kind lam__kind_lstm = RNN_KIND(LAM_LAYER_LSTM, "lstm");
const lam_kind lam__kind_gru = RNN_KIND(LAM_LAYER_GRU, "gru");
