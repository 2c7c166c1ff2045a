/* A neural surrogate inside a simulation's time loop, trained in-process on the program's own
 * arrays through the public API only.
 *
 * The simulation is a forced Duffing oscillator, x'' + delta x' + alpha x + beta x^3 =
 * gamma cos(omega t), integrated with classical RK4. The time loop advances an ensemble of
 * MEMBERS trajectories by one forcing period T = 2 pi / omega per step (the stroboscopic or
 * Poincare map), which takes the solver N_SUB RK4 sub-steps. The map is smooth but
 * nonlinear, and these parameters have a single attracting periodic orbit, so every
 * trajectory started in [-2, 2]^2 stays there.
 *
 *  1. Data: N_TRAIN random states (x, v) in [-2, 2]^2 and the solver's state one period
 *     later, in the program's own row-major (samples x 2) arrays.
 *  2. Training: an MLP 2 -> 16 -> 16 -> 2 (tanh), first by Adam (lam_fit), then refined
 *     by Levenberg-Marquardt (lam_fit_lm); lamina reads the arrays in place.
 *  3. The time loop runs the ensemble twice, with the solver and with the surrogate
 *     (one lam_predict_array call per step for the whole ensemble), and reports the error
 *     of the surrogate trajectories against the solver's and the time per step of each.
 *
 * Usage: surrogate [MAX_RMS]. Exits 0 when the RMS state error over the whole run is below
 * MAX_RMS (default 0.05; the state is of order 1), 1 otherwise or on any lamina error.
 * The speedup is a report, not a check: it depends on the machine.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lamina.h>
#include <lamina/fit.h>

enum { N_TRAIN = 4000, N_TEST = 1000, N_SUB = 400, MEMBERS = 256, PERIODS = 30 };

static const double PI = 3.14159265358979323846;

typedef struct duffing {
    double delta, alpha, beta, gamma, omega;
} duffing;

static void duffing_rhs(const duffing *p, double t, const double s[2], double ds[2])
{
    ds[0] = s[1];
    ds[1] = -p->delta * s[1] - p->alpha * s[0] - p->beta * s[0] * s[0] * s[0] +
            p->gamma * cos(p->omega * t);
}

/* The solver step: one forcing period from t = 0 (the forcing is T-periodic, so every period
 * starts at phase 0), in N_SUB RK4 sub-steps; RK4's error at this step is about 1e-8. */
static void solver_period(const duffing *p, double s[2])
{
    const double h = 2.0 * PI / p->omega / N_SUB;
    for (int i = 0; i < N_SUB; i++) {
        const double t = i * h;
        double k1[2], k2[2], k3[2], k4[2], u[2];
        duffing_rhs(p, t, s, k1);
        u[0] = s[0] + 0.5 * h * k1[0];
        u[1] = s[1] + 0.5 * h * k1[1];
        duffing_rhs(p, t + 0.5 * h, u, k2);
        u[0] = s[0] + 0.5 * h * k2[0];
        u[1] = s[1] + 0.5 * h * k2[1];
        duffing_rhs(p, t + 0.5 * h, u, k3);
        u[0] = s[0] + h * k3[0];
        u[1] = s[1] + h * k3[1];
        duffing_rhs(p, t + h, u, k4);
        s[0] += h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]);
        s[1] += h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]);
    }
}

/* n states uniform in [-2, 2]^2 from random stream `stream`, and their images under the map:
 * x and y are (n x 2), row-major. */
static void make_samples(const duffing *p, uint64_t stream, int n, float *x, float *y)
{
    for (int i = 0; i < n; i++) {
        double s[2];
        for (int j = 0; j < 2; j++) {
            s[j] = 4.0 * lam_rng_uniform(7, stream, (uint64_t)(2 * i + j)) - 2.0;
            x[2 * i + j] = (float)s[j];
        }
        solver_period(p, s);
        y[2 * i] = (float)s[0];
        y[2 * i + 1] = (float)s[1];
    }
}

static int fail(lam_ctx *ctx, const char *what, lam_status st)
{
    fprintf(stderr, "surrogate: %s: %s: %s\n", what, lam_strerror(st), lam_ctx_errmsg(ctx));
    return 1;
}

/* Train on (x, y) in place: Adam from the PyTorch initialisation, then Levenberg-Marquardt. */
static lam_status train(lam_ctx *ctx, lam_model *m, const float *x, const float *y)
{
    const lam_array xa = {x, N_TRAIN, 2, 0, 0};
    const lam_array ya = {y, N_TRAIN, 2, 0, 0};
    lam_param *params = NULL;
    int n_params = 0;
    lam_optim *opt = NULL;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    od.lr = 3e-3;
    lam_status st = lam_model_params(m, &params, &n_params);
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, params, n_params, &opt);
    }
    lam_fit_report rep;
    if (st == LAM_OK) {
        lam_fit_desc fd;
        lam_fit_desc_init(&fd); /* MSE loss, shuffled every epoch */
        fd.epochs = 40;
        fd.batch = 64;
        fd.lr = od.lr;
        fd.shuffle_seed = 11;
        st = lam_fit(m, opt, &fd, &xa, &ya, NULL, &rep);
    }
    if (st == LAM_OK) {
        printf("adam: %lld steps, training MSE %.3e, %.2f s\n", (long long)rep.steps,
               rep.final_loss, rep.seconds);
        lam_lm_desc ld;
        lam_lm_desc_init(&ld);
        ld.max_iters = 200;
        ld.max_seconds = 6.0;
        st = lam_fit_lm(m, &ld, &xa, &ya, &rep);
    }
    if (st == LAM_OK) {
        printf("levenberg-marquardt: %lld iterations, training loss %.3e, %.2f s\n",
               (long long)rep.steps, rep.final_loss, rep.seconds);
    }
    lam_optim_destroy(opt);
    return st;
}

int main(int argc, char **argv)
{
    const double max_rms = argc > 1 ? atof(argv[1]) : 0.05;
    const duffing p = {0.3, 1.0, 1.0, 0.5, 1.2};
    float *x = malloc(sizeof(float) * 2 * (N_TRAIN + N_TEST));
    float *y = malloc(sizeof(float) * 2 * (N_TRAIN + N_TEST));
    float *pred = malloc(sizeof(float) * 2 * N_TEST);
    float *u = malloc(sizeof(float) * 2 * MEMBERS);  /* surrogate states, (MEMBERS x 2) */
    float *un = malloc(sizeof(float) * 2 * MEMBERS); /* the next ones */
    double *s = malloc(sizeof(double) * 2 * MEMBERS); /* solver states */
    if (x == NULL || y == NULL || pred == NULL || u == NULL || un == NULL || s == NULL) {
        fprintf(stderr, "surrogate: out of memory\n");
        return 1;
    }
    double t0 = lam_time_now();
    make_samples(&p, 1, N_TRAIN, x, y);
    make_samples(&p, 2, N_TEST, x + 2 * N_TRAIN, y + 2 * N_TRAIN);
    printf("data: %d + %d solver periods in %.2f s\n", N_TRAIN, N_TEST, lam_time_now() - t0);

    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.seed = 3;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    const int64_t in_shape[1] = {2};
    lam_status st = lam_ctx_create(&cfg, &ctx);
    if (st != LAM_OK) {
        fprintf(stderr, "surrogate: context: %s\n", lam_strerror(st));
        return 1;
    }
    int rc = 1;
    st = lam_model_create(ctx, "linear:16 tanh linear:16 tanh linear:out", 1, in_shape, 2,
                          MEMBERS, &m);
    if (st != LAM_OK) {
        rc = fail(ctx, "model", st);
        goto done;
    }
    st = train(ctx, m, x, y);
    if (st != LAM_OK) {
        rc = fail(ctx, "training", st);
        goto done;
    }
    const lam_array test = {x + 2 * N_TRAIN, N_TEST, 2, 0, 0};
    st = lam_predict_array(m, &test, pred);
    if (st != LAM_OK) {
        rc = fail(ctx, "predict", st);
        goto done;
    }
    double mse = 0.0;
    for (int i = 0; i < 2 * N_TEST; i++) {
        const double d = pred[i] - y[2 * N_TRAIN + i];
        mse += d * d / (2 * N_TEST);
    }
    printf("one-period map, held-out MSE %.3e\n", mse);

    /* The time loop: the same ensemble by the solver, then by the surrogate. */
    for (int i = 0; i < 2 * MEMBERS; i++) {
        s[i] = 4.0 * lam_rng_uniform(7, 3, (uint64_t)i) - 2.0;
        u[i] = (float)s[i];
    }
    double t_solver = 0.0, t_surrogate = 0.0, sq = 0.0, worst = 0.0;
    for (int step = 0; step < PERIODS; step++) {
        double t1 = lam_time_now();
        for (int k = 0; k < MEMBERS; k++) {
            solver_period(&p, s + 2 * k);
        }
        double t2 = lam_time_now();
        const lam_array ua = {u, MEMBERS, 2, 0, 0};
        st = lam_predict_array(m, &ua, un);
        double t3 = lam_time_now();
        if (st != LAM_OK) {
            rc = fail(ctx, "predict in the time loop", st);
            goto done;
        }
        t_solver += t2 - t1;
        t_surrogate += t3 - t2;
        for (int i = 0; i < 2 * MEMBERS; i++) {
            u[i] = un[i];
            const double d = fabs((double)u[i] - s[i]);
            sq += d * d;
            worst = d > worst ? d : worst;
        }
    }
    const double rms = sqrt(sq / (2.0 * MEMBERS * PERIODS));
    const double steps = (double)MEMBERS * PERIODS;
    printf("time loop: %d members x %d periods\n", MEMBERS, PERIODS);
    printf("  error vs solver: RMS %.3e, max %.3e (limit RMS %.3g)\n", rms, worst, max_rms);
    printf("  time per member-step: solver %.2f us (%d RK4 sub-steps), surrogate %.2f us: "
           "speedup %.1fx\n", 1e6 * t_solver / steps, N_SUB, 1e6 * t_surrogate / steps,
           t_solver / t_surrogate);
    rc = rms < max_rms ? 0 : 1;
done:
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    free(x);
    free(y);
    free(pred);
    free(u);
    free(un);
    free(s);
    return rc;
}
