/* The gate passes of the recurrent cells with AVX-512 (kernels/rnn.c calls them when
 * lam__best_isa() says so). Why: every hidden unit of every step takes four or five
 * sigmoids and tanhs; glibc's scalar expf and tanhf made them a quarter of an LSTM's
 * training step (lamina-bench --model char-lstm, 1 thread), 16 lanes bring that down to a
 * few percent.
 *
 * exp16, sigm16 and tanh16 (avx512.h) are not the portable loops' bits: the kernel tests
 * hold both to the naive twin within tolerance, and a run uses one instruction set for
 * every step and thread, so results still do not depend on the thread count. */
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "avx512.h"

#define LD(p, j, m) _mm512_maskz_loadu_ps(m, (p) + (j))
#define ST(p, j, m, v) _mm512_mask_storeu_ps((p) + (j), m, v)

AVX512 void lam__rnn_row_fwd_avx512(int cell, int64_t H, float *g, const float *gh, const float *hp,
                                    const float *cp, float *c, float *h)
{
    for (int64_t j = 0; j < H; j += 16) {
        const __mmask16 m = first_bits(H - j);
        if (cell == LAM_CELL_TANH) {
            const __m512 v = tanh16(LD(g, j, m));
            ST(g, j, m, v);
            ST(h, j, m, v);
        } else if (cell == LAM_CELL_LSTM) {
            const __m512 i = sigm16(LD(g, j, m)), f = sigm16(LD(g + H, j, m));
            const __m512 gg = tanh16(LD(g + 2 * H, j, m)), o = sigm16(LD(g + 3 * H, j, m));
            const __m512 cv = _mm512_fmadd_ps(f, LD(cp, j, m), _mm512_mul_ps(i, gg));
            ST(g, j, m, i);
            ST(g + H, j, m, f);
            ST(g + 2 * H, j, m, gg);
            ST(g + 3 * H, j, m, o);
            ST(c, j, m, cv);
            ST(h, j, m, _mm512_mul_ps(o, tanh16(cv)));
        } else { /* GRU */
            const __m512 r = sigm16(_mm512_add_ps(LD(g, j, m), LD(gh, j, m)));
            const __m512 z = sigm16(_mm512_add_ps(LD(g + H, j, m), LD(gh + H, j, m)));
            const __m512 nv = tanh16(_mm512_fmadd_ps(r, LD(gh + 2 * H, j, m), LD(g + 2 * H, j, m)));
            ST(g, j, m, r);
            ST(g + H, j, m, z);
            ST(g + 2 * H, j, m, nv);
            /* (1 - z) n + z h' = n + z (h' - n) */
            ST(h, j, m, _mm512_fmadd_ps(z, _mm512_sub_ps(LD(hp, j, m), nv), nv));
        }
    }
}

/* The LSTM's backward row: its one transcendental is tanh(c), recomputed. */
AVX512 void lam__rnn_lstm_bwd_avx512(int64_t H, const float *dh, float *g, const float *cp,
                                     const float *c, float *dc)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t j = 0; j < H; j += 16) {
        const __mmask16 m = first_bits(H - j);
        const __m512 i = LD(g, j, m), f = LD(g + H, j, m), gg = LD(g + 2 * H, j, m),
                     o = LD(g + 3 * H, j, m), d = LD(dh, j, m);
        const __m512 tc = tanh16(LD(c, j, m));
        const __m512 dcv =
            _mm512_fmadd_ps(_mm512_mul_ps(d, o), _mm512_fnmadd_ps(tc, tc, one), LD(dc, j, m));
        const __m512 di =
            _mm512_mul_ps(_mm512_mul_ps(dcv, gg), _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
        const __m512 df = _mm512_mul_ps(_mm512_mul_ps(dcv, LD(cp, j, m)),
                                        _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
        const __m512 dg = _mm512_mul_ps(_mm512_mul_ps(dcv, i), _mm512_fnmadd_ps(gg, gg, one));
        const __m512 dout =
            _mm512_mul_ps(_mm512_mul_ps(d, tc), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
        ST(g, j, m, di);
        ST(g + H, j, m, df);
        ST(g + 2 * H, j, m, dg);
        ST(g + 3 * H, j, m, dout);
        ST(dc, j, m, _mm512_mul_ps(dcv, f));
    }
}

#else

void lam__rnn_row_fwd_avx512(int cell, int64_t H, float *g, const float *gh, const float *hp,
                             const float *cp, float *c, float *h)
{
    (void)cell, (void)H, (void)g, (void)gh, (void)hp, (void)cp, (void)c, (void)h;
}

void lam__rnn_lstm_bwd_avx512(int64_t H, const float *dh, float *g, const float *cp, const float *c,
                              float *dc)
{
    (void)H, (void)dh, (void)g, (void)cp, (void)c, (void)dc;
}

#endif
