/* mpi_alphabeta: the alpha-beta (latency, inverse bandwidth) model of this machine's MPI
 * transport, measured with plain MPI (no lamina), for docs/scaling.md.
 *
 *     mpicc -O2 -std=c11 -Wall -Wextra -o /tmp/mpi_alphabeta bench/mpi_alphabeta.c
 *     mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 /tmp/mpi_alphabeta
 *     mpirun ... --mca pml ob1 --mca btl self,vader -np 2 /tmp/mpi_alphabeta   (shared memory)
 *     mpirun ... --mca pml ob1 --mca btl self,tcp   -np 2 /tmp/mpi_alphabeta   (TCP loopback)
 *
 * It measures, for message sizes n = 8 B .. 64 MiB (powers of 2, or --min/--max):
 *
 * (a) ping-pong between ranks 0 and 1: half the round-trip time of an n-byte MPI_Send /
 *     MPI_Recv pair (the other ranks, if any, wait);
 * (b) the allreduce lamina will use on an n-byte float vector over all R ranks: the vector
 *     is cut into R segments (sizes differing by at most one float); MPI_Alltoallv sends
 *     segment s of every rank's vector to rank s (the reduce-scatter's communication), rank s
 *     sums the R copies of its segment in rank order 0, 1, .., R-1 (a fixed order), then
 *     MPI_Allgatherv gives every rank the whole summed vector. The time of each phase is
 *     kept apart: comm = alltoallv + allgatherv, sum = the local reduction;
 * (c) for reference, MPI_Allreduce(MPI_SUM) of the same vector (Open MPI's own algorithm
 *     choice; not what lamina does, since its sum order depends on the algorithm).
 *
 * Every figure is the median over many batches; a batch is `inner` back-to-back repetitions
 * (enough for ~100 us, so the clock's resolution does not matter for small messages) and
 * for the collectives starts after a barrier and counts the slowest rank's time. Then it fits
 * by least squares, minimising *relative* residuals so that 8-byte and 64-MiB points weigh
 * alike:
 *     ping-pong:   t = alpha + n * beta
 *     collective:  t = 2 alpha + 2 (R-1)/R n beta     (comm phases only)
 * and reports the sum's cost per byte of the vector, gamma, from sum = (R-1)/R n gamma.
 * Output: a readable table, then one JSON line (the last line).
 *
 * Options: --min BYTES (8), --max BYTES (67108864), --budget SECONDS per size and test (0.25).
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 64
#define MAX_BATCHES 401

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Weighted least squares of t_i = a * x_i + b * y_i with weights 1/t_i^2 (relative
 * residuals). Returns 0 on success. */
static int fit2(int n, const double *x, const double *y, const double *t, double *a,
                double *b)
{
    double sxx = 0, sxy = 0, syy = 0, sxt = 0, syt = 0;
    for (int i = 0; i < n; i++) {
        double w = 1.0 / (t[i] * t[i]);
        sxx += w * x[i] * x[i];
        sxy += w * x[i] * y[i];
        syy += w * y[i] * y[i];
        sxt += w * x[i] * t[i];
        syt += w * y[i] * t[i];
    }
    double det = sxx * syy - sxy * sxy;
    if (n < 2 || det == 0)
        return -1;
    *a = (sxt * syy - syt * sxy) / det;
    *b = (sxx * syt - sxy * sxt) / det;
    return 0;
}

/* Square root by Newton's method: the build line links no libm. */
static double root(double v)
{
    if (!(v > 0))
        return 0;
    double r = v > 1 ? v : 1;
    for (int i = 0; i < 200; i++) {
        double nr = 0.5 * (r + v / r);
        if (nr >= r)
            break;
        r = nr;
    }
    return r;
}

/* Relative rms error of a fit. */
static double fit_err(int n, const double *x, const double *y, const double *t, double a,
                      double b)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        double r = (a * x[i] + b * y[i] - t[i]) / t[i];
        s += r * r;
    }
    return root(s / n);
}

/* The number of repetitions per batch and of batches, from an estimate of one repetition's
 * time, the same on every rank (rank 0's estimate, broadcast). */
static void plan(double est, double budget, int *inner, int *batches)
{
    if (est <= 0)
        est = 1e-7;
    double in = 1e-4 / est;
    *inner = in < 1 ? 1 : in > 10000 ? 10000 : (int)in;
    double nb = budget / (est * *inner);
    *batches = nb < 7 ? 7 : nb > MAX_BATCHES ? MAX_BATCHES : (int)nb;
    int p[2] = {*inner, *batches};
    MPI_Bcast(p, 2, MPI_INT, 0, MPI_COMM_WORLD);
    *inner = p[0];
    *batches = p[1];
}

static void pingpong(int rank, char *buf, int n)
{
    if (rank == 0) {
        MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
        MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
}

/* dst += src, 8 floats a block: gcc's -O2 does not vectorise a plain loop (its "very cheap"
 * cost model refuses the scalar tail), but it turns each block into two 4-float SSE adds.
 * The sum lamina would run is vectorised too, so this is the one to time. */
static void add_into(float *restrict dst, const float *restrict src, int m)
{
    int i = 0;
    for (; i + 8 <= m; i += 8) {
        dst[i] += src[i];
        dst[i + 1] += src[i + 1];
        dst[i + 2] += src[i + 2];
        dst[i + 3] += src[i + 3];
        dst[i + 4] += src[i + 4];
        dst[i + 5] += src[i + 5];
        dst[i + 6] += src[i + 6];
        dst[i + 7] += src[i + 7];
    }
    for (; i < m; i++)
        dst[i] += src[i];
}

struct seg {
    int R, rank;
    int *cnt, *dsp;       /* segment s: cnt[s] floats at dsp[s] of the vector */
    int *rcnt, *rdsp;     /* alltoallv receive: my segment from every rank, in rank order */
    float *vec, *recv, *out;
};

/* One lamina-style allreduce; adds the time of its three phases to t[0..2]. */
static void seg_allreduce(struct seg *g, double *t)
{
    double t0 = MPI_Wtime();
    MPI_Alltoallv(g->vec, g->cnt, g->dsp, MPI_FLOAT, g->recv, g->rcnt, g->rdsp, MPI_FLOAT,
                  MPI_COMM_WORLD);
    double t1 = MPI_Wtime();
    int m = g->cnt[g->rank];
    float *mine = g->out + g->dsp[g->rank];
    memcpy(mine, g->recv, (size_t)m * sizeof(float));
    for (int q = 1; q < g->R; q++) /* fixed order: ((r0 + r1) + r2) + ... */
        add_into(mine, g->recv + (size_t)q * m, m);
    double t2 = MPI_Wtime();
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, g->out, g->cnt, g->dsp, MPI_FLOAT,
                   MPI_COMM_WORLD);
    double t3 = MPI_Wtime();
    t[0] += t1 - t0;
    t[1] += t2 - t1;
    t[2] += t3 - t2;
}

/* The 1-minute load average (Linux), or -1: a busy machine deschedules the busy-polling
 * ranks and turns microseconds into scheduler ticks, so every report carries it. */
static double loadavg(void)
{
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: mpi_alphabeta [--min BYTES] [--max BYTES] [--budget SECONDS]\n");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, R;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R);

    long lo = 8, hi = 64L << 20;
    double budget = 0.25;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--min"))
            lo = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--max"))
            hi = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--budget"))
            budget = atof(argv[++i]);
        else {
            if (rank == 0)
                usage();
            MPI_Finalize();
            return 2;
        }
    }
    if (lo < 4 || hi < lo || hi > (1L << 30) || !(budget > 0)) {
        if (rank == 0)
            usage();
        MPI_Finalize();
        return 2;
    }
    if (R < 2) {
        if (rank == 0)
            fprintf(stderr, "mpi_alphabeta: run it on at least 2 ranks (mpirun -np 2)\n");
        MPI_Finalize();
        return 2;
    }

    double load_start = loadavg();
    long sizes[MAX_SIZES];
    int ns = 0;
    for (long n = lo; n <= hi && ns < MAX_SIZES; n *= 2)
        sizes[ns++] = n;

    size_t maxf = (size_t)(hi / 4) + (size_t)R;
    char *pbuf = malloc((size_t)hi);
    struct seg g = {.R = R, .rank = rank};
    g.cnt = malloc(4 * (size_t)R * sizeof(int));
    g.dsp = g.cnt + R;
    g.rcnt = g.cnt + 2 * R;
    g.rdsp = g.cnt + 3 * R;
    g.vec = malloc(maxf * sizeof(float));
    g.recv = malloc(maxf * sizeof(float));
    g.out = malloc(maxf * sizeof(float));
    if (!pbuf || !g.cnt || !g.vec || !g.recv || !g.out) {
        fprintf(stderr, "mpi_alphabeta: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(pbuf, 1, (size_t)hi);
    for (size_t i = 0; i < maxf; i++)
        g.vec[i] = (float)((i * 7 + (size_t)rank) % 13) * 0.125f;
    memset(g.out, 0, maxf * sizeof(float));
    memset(g.recv, 0, maxf * sizeof(float));

    double pp[MAX_SIZES], a2a[MAX_SIZES], sum[MAX_SIZES], ag[MAX_SIZES], comm[MAX_SIZES],
        tot[MAX_SIZES], ar[MAX_SIZES];
    double *bt = malloc(MAX_BATCHES * 5 * sizeof(double));
    double *bt_a = bt + MAX_BATCHES, *bt_s = bt + 2 * MAX_BATCHES, *bt_g = bt + 3 * MAX_BATCHES,
           *bt_c = bt + 4 * MAX_BATCHES;

    for (int k = 0; k < ns; k++) {
        int n = (int)sizes[k];
        /* (a) ping-pong */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int w = 0; w < 3; w++)
            pingpong(rank, pbuf, n);
        double est = (MPI_Wtime() - t0) / 3;
        int inner, batches;
        plan(est, budget, &inner, &batches);
        for (int b = 0; b < batches; b++) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            for (int i = 0; i < inner; i++)
                pingpong(rank, pbuf, n);
            bt[b] = (MPI_Wtime() - t0) / inner / 2;
        }
        if (rank == 0)
            pp[k] = median(bt, batches);

        /* (b) segmented reduce-scatter (alltoallv) + allgatherv of n / 4 floats */
        int nf = n / 4;
        for (int s = 0, off = 0; s < R; s++) {
            g.cnt[s] = nf / R + (s < nf % R);
            g.dsp[s] = off;
            off += g.cnt[s];
        }
        for (int q = 0; q < R; q++) {
            g.rcnt[q] = g.cnt[rank];
            g.rdsp[q] = q * g.cnt[rank];
        }
        double ph[3] = {0, 0, 0};
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int w = 0; w < 3; w++)
            seg_allreduce(&g, ph);
        est = (MPI_Wtime() - t0) / 3;
        plan(est, budget, &inner, &batches);
        for (int b = 0; b < batches; b++) {
            double loc[4] = {0, 0, 0, 0}, mx[4];
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            for (int i = 0; i < inner; i++)
                seg_allreduce(&g, loc);
            loc[3] = MPI_Wtime() - t0;
            /* the slowest rank's time of each phase and of the whole batch */
            MPI_Allreduce(loc, mx, 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            bt_a[b] = mx[0] / inner;
            bt_s[b] = mx[1] / inner;
            bt_g[b] = mx[2] / inner;
            bt[b] = mx[3] / inner;
            bt_c[b] = (mx[0] + mx[2]) / inner;
        }
        a2a[k] = median(bt_a, batches);
        sum[k] = median(bt_s, batches);
        ag[k] = median(bt_g, batches);
        tot[k] = median(bt, batches);
        comm[k] = median(bt_c, batches);

        /* (c) MPI_Allreduce of the same vector, for reference */
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int w = 0; w < 3; w++)
            MPI_Allreduce(g.vec, g.out, nf, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        est = (MPI_Wtime() - t0) / 3;
        plan(est, budget, &inner, &batches);
        for (int b = 0; b < batches; b++) {
            double loc, mx;
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            for (int i = 0; i < inner; i++)
                MPI_Allreduce(g.vec, g.out, nf, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            loc = (MPI_Wtime() - t0) / inner;
            MPI_Allreduce(&loc, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            bt[b] = mx;
        }
        ar[k] = median(bt, batches);
        if (rank == 0) {
            fprintf(stderr, "  %ld bytes done\n", sizes[k]);
            fflush(stderr);
        }
    }

    if (rank == 0) {
        char lib[MPI_MAX_LIBRARY_VERSION_STRING];
        int len;
        MPI_Get_library_version(lib, &len);
        char *nl = strchr(lib, '\n');
        if (nl)
            *nl = 0;
        char *comma = strchr(lib, ',');
        if (comma)
            *comma = 0;

        /* fits: ping-pong t = alpha + n beta; collective t = 2(R-1) alpha + 2(R-1)/R n beta */
        double x[MAX_SIZES], y[MAX_SIZES], yc[MAX_SIZES], xc[MAX_SIZES];
        for (int k = 0; k < ns; k++) {
            x[k] = 1;
            y[k] = (double)sizes[k];
            xc[k] = 2.0 * (R - 1);
            yc[k] = 2.0 * (R - 1) / R * (double)sizes[k];
        }
        double pa = 0, pb = 0, ca = 0, cb = 0, ra = 0, rb = 0;
        fit2(ns, x, y, pp, &pa, &pb);
        fit2(ns, xc, yc, comm, &ca, &cb);
        fit2(ns, xc, yc, ar, &ra, &rb);
        /* the same fits over the large messages only (>= 64 KiB: the rendezvous protocol,
         * and the size of a gradient): their beta is the one a step's allreduce sees */
        int k0 = 0;
        while (k0 < ns - 2 && sizes[k0] < 65536)
            k0++;
        int nlg = ns - k0;
        double lpa = 0, lpb = 0, lca = 0, lcb = 0;
        fit2(nlg, x + k0, y + k0, pp + k0, &lpa, &lpb);
        fit2(nlg, xc + k0, yc + k0, comm + k0, &lca, &lcb);
        double lpe = fit_err(nlg, x + k0, y + k0, pp + k0, lpa, lpb),
               lce = fit_err(nlg, xc + k0, yc + k0, comm + k0, lca, lcb);
        double pe = fit_err(ns, x, y, pp, pa, pb), ce = fit_err(ns, xc, yc, comm, ca, cb),
               re = fit_err(ns, xc, yc, ar, ra, rb);
        /* gamma: the reduction's seconds per byte of the vector, from the largest size */
        double gamma = sum[ns - 1] / ((double)(R - 1) / R * (double)sizes[ns - 1]);
        /* asymptotic figures from the largest message, and the smallest message's time */
        double pp_bw = (double)sizes[ns - 1] / pp[ns - 1];
        double co_bw = 2.0 * (R - 1) / R * (double)sizes[ns - 1] / comm[ns - 1];

        double load_end = loadavg();
        printf("mpi_alphabeta: %d ranks, %s; load average %.2f at start, %.2f at end\n", R,
               lib, load_start, load_end);
        printf("times in us, medians over batches; pp = ping-pong half round trip (ranks 0-1);\n"
               "a2a, sum, ag = the segmented allreduce's alltoallv, fixed-order sum and "
               "allgatherv;\ncomm = a2a + ag; MPI_Allreduce = Open MPI's own, for reference\n");
        printf("%10s %10s %9s | %10s %10s %10s %10s %10s | %12s\n", "bytes", "pp", "pp MB/s",
               "a2a", "sum", "ag", "comm", "total", "MPI_Allreduce");
        for (int k = 0; k < ns; k++)
            printf("%10ld %10.2f %9.0f | %10.2f %10.2f %10.2f %10.2f %10.2f | %12.2f\n",
                   sizes[k], pp[k] * 1e6, (double)sizes[k] / pp[k] / 1e6, a2a[k] * 1e6,
                   sum[k] * 1e6, ag[k] * 1e6, comm[k] * 1e6, tot[k] * 1e6, ar[k] * 1e6);
        printf("fit (least squares on relative residuals, %ld..%ld bytes):\n", sizes[0],
               sizes[ns - 1]);
        printf("  ping-pong      t = alpha + n beta:                alpha %.3f us, beta %.4g "
               "s/B (%.2f GB/s), rms rel. error %.0f%%\n",
               pa * 1e6, pb, 1e-9 / pb, pe * 100);
        printf("  segmented      t = 2(R-1) alpha + 2(R-1)/R n beta: alpha %.3f us, beta %.4g "
               "s/B (%.2f GB/s), rms rel. error %.0f%%\n",
               ca * 1e6, cb, 1e-9 / cb, ce * 100);
        printf("  MPI_Allreduce  (same form):                       alpha %.3f us, beta %.4g "
               "s/B (%.2f GB/s), rms rel. error %.0f%%\n",
               ra * 1e6, rb, 1e-9 / rb, re * 100);
        printf("fit over %ld..%ld bytes only:\n", sizes[k0], sizes[ns - 1]);
        printf("  ping-pong:  alpha %.3f us, beta %.4g s/B (%.2f GB/s), rms rel. error %.0f%%\n",
               lpa * 1e6, lpb, 1e-9 / lpb, lpe * 100);
        printf("  segmented:  alpha %.3f us, beta %.4g s/B (%.2f GB/s), rms rel. error %.0f%%\n",
               lca * 1e6, lcb, 1e-9 / lcb, lce * 100);
        printf("  smallest-message time: ping-pong %.3f us, segmented comm %.3f us; "
               "largest-message bandwidth: ping-pong %.2f GB/s, segmented %.2f GB/s\n",
               pp[0] * 1e6, comm[0] * 1e6, pp_bw / 1e9, co_bw / 1e9);
        printf("  fixed-order sum: gamma %.4g s/B (%.2f GB/s of vector) at %ld bytes\n", gamma,
               1e-9 / gamma, sizes[ns - 1]);

        printf("{\"ranks\": %d, \"mpi\": \"%s\", \"budget_s\": %g, \"load_start\": %.2f, "
               "\"load_end\": %.2f, \"sizes\": [", R, lib, budget, load_start, load_end);
        for (int k = 0; k < ns; k++)
            printf("%s%ld", k ? ", " : "", sizes[k]);
#define ARR(name, v)                                                                           \
    do {                                                                                       \
        printf("], \"" name "\": [");                                                          \
        for (int k = 0; k < ns; k++)                                                           \
            printf("%s%.6g", k ? ", " : "", (v)[k] * 1e6);                                     \
    } while (0)
        ARR("pingpong_us", pp);
        ARR("a2a_us", a2a);
        ARR("sum_us", sum);
        ARR("allgather_us", ag);
        ARR("comm_us", comm);
        ARR("total_us", tot);
        ARR("mpi_allreduce_us", ar);
#undef ARR
        printf("], \"pingpong_fit\": {\"alpha_s\": %.6g, \"beta_s_per_byte\": %.6g, "
               "\"rel_rms\": %.4f}, \"segmented_fit\": {\"alpha_s\": %.6g, "
               "\"beta_s_per_byte\": %.6g, \"rel_rms\": %.4f}, \"mpi_allreduce_fit\": "
               "{\"alpha_s\": %.6g, \"beta_s_per_byte\": %.6g, \"rel_rms\": %.4f}, "
               "\"large_from_bytes\": %ld, \"pingpong_fit_large\": {\"alpha_s\": %.6g, "
               "\"beta_s_per_byte\": %.6g, \"rel_rms\": %.4f}, \"segmented_fit_large\": "
               "{\"alpha_s\": %.6g, \"beta_s_per_byte\": %.6g, \"rel_rms\": %.4f}, "
               "\"sum_gamma_s_per_byte\": %.6g, \"pingpong_bw_largest_Bps\": %.6g, "
               "\"segmented_bw_largest_Bps\": %.6g}\n",
               pa, pb, pe, ca, cb, ce, ra, rb, re, sizes[k0], lpa, lpb, lpe, lca, lcb, lce,
               gamma, pp_bw, co_bw);
    }
    free(bt);
    free(pbuf);
    free(g.cnt);
    free(g.vec);
    free(g.recv);
    free(g.out);
    MPI_Finalize();
    return 0;
}
