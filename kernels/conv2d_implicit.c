/*
 * Implicit GEMM: the convolutions that keep the image size (stride 1, odd kernel, "same"
 * padding, one group: every 3x3 of a ResNet but the down-sampling ones) without im2col.
 *
 * The images of a chunk (LAM_CHUNK of them) are copied once into one zero-padded frame, side
 * by side, HP = H + KH - 1 rows of WF = PW + B*(W + PW) columns: image b's column w sits at
 * PW + b*(W + PW) + w, and the PW zero columns between two images serve as the right padding
 * of one and the left padding of the next. In that frame the im2col row of tap (c, y, x) is
 * the frame itself read from c*plane + y*WF + x: column q = oh*WF + b*(W + PW) + ow is the tap
 * of image b's output (oh, ow), and the other columns (PW per image and row, plus PW) are
 * junk. The GEMM kernels read these rows in place (lam_window), so the KH*KW-fold copy of the
 * image that im2col writes, and col2im's scatter, are gone; the price is the junk columns
 * (3% at 28 wide, 6% at 14, 12% at 7) and a compaction of the GEMM's output. One GEMM per
 * chunk also fills the kernels' 48-column tiles where one 7x7 image (49 columns) did not.
 *
 *   forward      yq(C_out, NP)   = W(C_out, K) * window(xp)          (+ bias: the ones row)
 *   weight grad  dW^T(K, C_out)  = window(xp) * dyt(NP, C_out)       (dy^T in the frame's
 *                                  columns; its junk rows are zero, so junk adds nothing)
 *   input grad   dxq(C_in, NP)   = Wt(C_in, C_out*KH*KW) * window(dyq)
 * where dyq is dy in the same padded frame and Wt is W flipped in both kernel axes: with
 * "same" padding the input gradient is itself a same-size convolution of dy.
 *
 * Sums: the forward runs each output's FMA chain over the same taps in the same order as the
 * im2col path, so it gives the same bits. The weight gradient is one chain over the chunk's
 * images (im2col: one per image, then added), and the input gradient one chain over
 * (c_out, tap) where col2im added up per-tap sums: other orders, fixed by the shape and the
 * chunk, so still the same for any thread count.
 */
#include "conv2d_plan.h"

int lam__conv_implicit_fits(const lam_conv_geom *g)
{
    return g->groups == 1 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->kh % 2 == 1 && g->kw % 2 == 1 && g->kh * g->kw > 1 &&
           g->ph == (g->kh - 1) / 2 && g->pw == (g->kw - 1) / 2;
}

/* Columns of the frame of nimg images. */
static int64_t frame_cols(const lam_conv_geom *g, int64_t nimg)
{
    const int64_t pw = (g->kw - 1) / 2;
    return pw + nimg * (g->w + pw);
}

void lam__conv_implicit_plan(plan *pp, int force)
{
    const lam_conv_geom *g = pp->g;
    const int64_t slack = g->kw - 1; /* the last window row reads this far past its plane */
    const int64_t nimg = g->n < LAM_CHUNK ? g->n : LAM_CHUNK;
    pp->implicit_fwd = pp->implicit_bwd = 0;
    pp->hp = g->h + g->kh - 1;
    pp->wp = frame_cols(g, nimg);
    pp->plane = pp->hp * pp->wp;
    pp->np = g->oh * pp->wp;
    /* Which passes pay (measured on the ResNet-20 shapes, bench/NOTES-engine.md, eighth
     * round). The forward trades im2col's copy for the junk columns' share of the 16-column
     * vectors; the window GEMM, which prefetches its rows, runs the same FMAs faster than the
     * plain one on im2col's columns, and the copy costs about what three more output
     * channels' FMAs do. So it wins where the junk is a few vectors (28, 32, 14, 16 and 7
     * wide) and loses at 8 wide, where im2col's 64 columns per image fill the vectors
     * exactly. The backward pays for the junk in both of its GEMMs but saves im2col and
     * col2im: it wins or ties up to a quarter of junk (7 wide is 18%). Neither pays with few
     * taps: the frame's copies in and out cost per row of the image what the FMAs cost per
     * tap, so a first layer on 1 or 3 channels (9 or 27 taps) ran at 0.5x and 0.8x of im2col
     * (16 channels, 144 taps: 1.2-1.5x). */
    const int64_t v_implicit = (pp->np + 15) / 16, v_im2col = nimg * ((pp->p + 15) / 16);
    const int taps_pay = g->c_in * g->kh * g->kw >= 64;
    pp->implicit_fwd = force || (taps_pay && v_implicit * g->c_out <= v_im2col * (g->c_out + 3));
    pp->implicit_bwd = force || (taps_pay && 4 * pp->np <= 5 * nimg * pp->p);
    if (!pp->implicit_fwd && !pp->implicit_bwd) {
        return;
    }
    pp->ones_f = round_line(pp->np);
    pp->scr_f = round_line(nimg * g->c_out * pp->p);
    pp->xp_f = round_line(g->c_in * pp->plane + slack);
    const int64_t yq_rows = pp->implicit_bwd && g->c_in > g->c_out ? g->c_in : g->c_out;
    pp->yq_f = round_line(yq_rows * pp->np);
    if (pp->implicit_bwd) {
        pp->dyt_f = round_line(pp->np * g->c_out);
        pp->dyq_f = round_line(g->c_out * pp->plane + slack);
    }
}

/* The frame of one chunk of nimg images (nimg <= LAM_CHUNK: the last chunk may be short). */
typedef struct frame {
    int64_t nimg, wf, plane, np;
} frame;

static frame frame_of(const plan *pp, int64_t nimg)
{
    frame f = {nimg, frame_cols(pp->g, nimg), 0, 0};
    f.plane = pp->hp * f.wf;
    f.np = pp->g->oh * f.wf;
    return f;
}

/* d = s, relu(s) (as lam__act_fwd: v < 0 ? 0 : v) or d + s over one row of n floats: rows are
 * 7 to 32 floats here, too short for memcpy's call to pay. With AVX-512, masked vectors;
 * elsewhere the loop the compiler vectorises. */
static void row_op_portable(int op, float *d, const float *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float v = s[i];
        d[i] = op == LAM_OUT_RELU ? (v < 0.0f ? 0.0f : v) : op == LAM_OUT_ADD ? d[i] + v : v;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include "avx512.h"

static AVX512 void row_op_avx512(int op, float *d, const float *s, int64_t n)
{
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_bits(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, s + i);
        if (op == LAM_OUT_RELU) {
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
        } else if (op == LAM_OUT_ADD) {
            v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + i), v);
        }
        _mm512_mask_storeu_ps(d + i, m, v);
    }
}
#endif

static void row_op(int isa, int op, float *d, const float *s, int64_t n)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa == LAM_ISA_AVX512) {
        row_op_avx512(op, d, s, n);
        return;
    }
#else
    (void)isa;
#endif
    row_op_portable(op, d, s, n);
}

static void zero(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        p[i] = 0.0f;
    }
}

/* dst = the frame of images src + b*stride (chans, H, W each), its padding and the slack
 * after the last plane zeroed. */
static void pad_frame(const plan *pp, const frame *f, const float *src, int64_t stride,
                      int64_t chans, float *dst)
{
    const lam_conv_geom *g = pp->g;
    const int64_t ph = (g->kh - 1) / 2, pw = (g->kw - 1) / 2, wf = f->wf, h = g->h, w = g->w;
    for (int64_t c = 0; c < chans; c++) {
        float *d = dst + c * f->plane;
        zero(d, ph * wf);
        for (int64_t r = 0; r < h; r++) {
            float *row = d + (ph + r) * wf;
            zero(row, pw);
            for (int64_t b = 0; b < f->nimg; b++) {
                float *at = row + pw + b * (w + pw);
                row_op(pp->isa, LAM_OUT_COPY, at, src + b * stride + (c * h + r) * w, w);
                zero(at + w, pw);
            }
        }
        zero(d + (ph + h) * wf, (pp->hp - ph - h) * wf);
    }
    zero(dst + chans * f->plane, g->kw - 1);
}

/* Image b of dst + b*stride (chans, OH, OW) = (relu of) or += its valid columns of q. */
static void unpad_frame(const plan *pp, const frame *f, const float *q, int64_t chans,
                        float *dst, int64_t stride, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t oh = g->oh, ow = g->ow, step = ow + (g->kw - 1) / 2;
    for (int64_t b = 0; b < f->nimg; b++) {
        for (int64_t c = 0; c < chans; c++) {
            for (int64_t r = 0; r < oh; r++) {
                row_op(pp->isa, op, dst + b * stride + (c * oh + r) * ow,
                       q + c * f->np + r * f->wf + b * step, ow);
            }
        }
    }
}

static lam_window frame_window(const plan *pp, const frame *f, const float *base,
                               int64_t chans, const float *ones)
{
    const lam_window win = {base, chans, f->plane, f->wf, pp->g->kh, pp->g->kw, ones};
    return win;
}

void lam__conv_implicit_fwd(const plan *pp, const float *x, int64_t nimg, const float *wm,
                            int64_t lda, int aug, float *ws, int lane, float *t, int64_t ts,
                            int relu)
{
    const lam_conv_geom *g = pp->g;
    const frame f = frame_of(pp, nimg);
    float *xp = ws_xp(pp, ws, lane), *yq = ws_yq(pp, ws, lane);
    pad_frame(pp, &f, x, pp->xs, g->c_in, xp);
    const lam_window win = frame_window(pp, &f, xp, g->c_in, aug ? ws_ones(pp, ws) : NULL);
    lam__gemm_win_b(pp->isa, g->c_out, f.np, wm, lda, &win, yq, f.np, 0);
    unpad_frame(pp, &f, yq, g->c_out, t, ts, relu ? LAM_OUT_RELU : LAM_OUT_COPY);
}

void lam__conv_implicit_flip(const plan *pp, const float *w, float *ws)
{
    const lam_conv_geom *g = pp->g;
    const int64_t kk = g->kh * g->kw, kp = g->c_out * kk;
    float *wt = ws_wa(pp, ws);
    for (int64_t co = 0; co < g->c_out; co++) {
        for (int64_t ci = 0; ci < g->c_in; ci++) {
            const float *src = w + (co * g->c_in + ci) * kk;
            float *dst = wt + ci * kp + co * kk;
            for (int64_t t = 0; t < kk; t++) {
                dst[kk - 1 - t] = src[t]; /* both axes reversed: tap t -> kk-1-t */
            }
        }
    }
}

/* dy^T in the frame's columns straight from dy (nimg, C_out, P) when no frame of dy is
 * needed (the input gradient runs elsewhere): image b's row r lands on rows
 * r*WF + b*(W + PW) .. + OW of dyt, and the PW junk rows after each, and after the last
 * image, are zero. */
static void dyt_of_dy(const plan *pp, const frame *f, const float *src, float *dyt)
{
    const lam_conv_geom *g = pp->g;
    const int64_t co = g->c_out, ow = g->ow, pw = (g->kw - 1) / 2, step = ow + pw;
    for (int64_t r = 0; r < g->oh; r++) {
        float *row = dyt + r * f->wf * co;
        for (int64_t b = 0; b < f->nimg; b++) {
            lam__transpose_isa(pp->isa, co, ow, src + b * co * pp->p + r * ow, pp->p,
                               row + b * step * co, co);
            zero(row + (b * step + ow) * co, pw * co);
        }
        zero(row + f->nimg * step * co, pw * co);
    }
}

void lam__conv_implicit_bwd(const plan *pp, const float *x, const float *src, int64_t nimg,
                            float *dx, float *part, int aug, float *ws, int lane)
{
    const lam_conv_geom *g = pp->g;
    const frame f = frame_of(pp, nimg);
    float *dyq = ws_dyq(pp, ws, lane);
    if (dx != NULL) {
        pad_frame(pp, &f, src, g->c_out * pp->p, g->c_out, dyq);
    }
    if (x != NULL) {
        float *xp = ws_xp(pp, ws, lane), *dyt = ws_dyt(pp, ws, lane);
        pad_frame(pp, &f, x, pp->xs, g->c_in, xp);
        if (dx != NULL) {
            /* dy in the frame's columns is dyq read from (PH, PW): its junk columns land on
             * the gaps and the left and right padding, all zero */
            const int64_t off = (g->kh - 1) / 2 * f.wf + (g->kw - 1) / 2;
            lam__transpose_isa(pp->isa, g->c_out, f.np, dyq + off, f.plane, dyt, g->c_out);
        } else {
            dyt_of_dy(pp, &f, src, dyt);
        }
        const lam_window win = frame_window(pp, &f, xp, g->c_in, aug ? ws_ones(pp, ws) : NULL);
        lam__gemm_win_a(pp->isa, &win, g->c_out, f.np, dyt, g->c_out, part, g->c_out, 0);
    }
    if (dx != NULL) {
        float *dxq = ws_yq(pp, ws, lane);
        const lam_window win = frame_window(pp, &f, dyq, g->c_out, NULL);
        lam__gemm_win_b(pp->isa, g->c_in, f.np, ws_wa(pp, ws), g->c_out * g->kh * g->kw, &win,
                        dxq, f.np, 0);
        unpad_frame(pp, &f, dxq, g->c_in, dx, pp->xs, pp->dx_acc ? LAM_OUT_ADD : LAM_OUT_COPY);
    }
}
