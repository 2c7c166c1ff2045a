/* lamina info: the per-layer table (output shape, parameters, FLOPs, how the layer runs) of
 * a model spec for an input shape, or of a checkpoint. */
#include <stdio.h>

#include "cli.h"

static void print_table(lam_model *m)
{
    char shape[64];
    int nd;
    int64_t s[3];
    lam_model_in_shape(m, &nd, s);
    snprintf(shape, sizeof shape, nd == 3 ? "%lldx%lldx%lld" : "%lld", (long long)s[0],
             (long long)s[1], (long long)s[2]);
    printf("%-4s %-14s %-14s %12s %14s  %s\n", "#", "layer", "output", "params", "FLOPs",
           "strategy");
    printf("%-4s %-14s %-14s %12s %14s\n", "", "input", shape, "", "");
    for (int i = 0; i < lam_model_layer_count(m); i++) {
        lam_layer *l = lam_model_layer(m, i);
        lam_layer_out_shape(l, &nd, s);
        snprintf(shape, sizeof shape, nd == 3 ? "%lldx%lldx%lld" : "%lld", (long long)s[0],
                 (long long)s[1], (long long)s[2]);
        /* strategy: chunked/batched GEMMs, split/blas, what the model fused (lamina/model.h) */
        const char *how = lam_layer_strategy(l);
        printf("%-4d %-14s %-14s %12lld %14lld  %s\n", i, lam_layer_name(l), shape,
               (long long)lam_layer_param_count(l), (long long)lam_layer_flops(l),
               how[0] != '\0' ? how : "-");
    }
    printf("total: %lld parameters, %lld FLOPs per sample (forward)\n",
           (long long)lam_model_param_count(m), (long long)lam_model_flops(m));
}

int cli_info(int argc, char **argv)
{
    const char *model = NULL, *input = NULL;
    cli_int classes = {10, 0};
    const cli_opt table[] = {
        cli_opt_str("--model", &model, "SPEC", "built-in name, spec file or inline spec"),
        cli_opt_str("--input", &input, "CxHxW", "input sample shape, e.g. 1x28x28 or 784"),
        cli_opt_int("--classes", &classes, "N", "size of `out` (10)", 1, LAM_DATA_MAX_CLASSES),
    };
    const char *pos[1];
    int n_pos;
    char err[160];
    int rc = cli_parse(argc, argv, 2, table, 3, pos, 1, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help("lamina info --model SPEC --input CxHxW | lamina info FILE",
                       "Print the per-layer table and totals of a model or a checkpoint.",
                       table, 3);
        return EXIT_OK;
    }
    if (rc < 0 || (n_pos == 1) == (model != NULL)) {
        cli_error("%s", rc < 0 ? err : "give either --model SPEC --input CxHxW or a FILE");
        return EXIT_USAGE;
    }
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_status st = lam_ctx_create(NULL, &ctx);
    if (st == LAM_OK && n_pos == 1) {
        lam_checkpoint *ck = NULL;
        st = lam_checkpoint_open(ctx, pos[0], &ck);
        if (st == LAM_OK) {
            st = lam_checkpoint_model(ck, 1, &m);
        }
        if (st == LAM_OK) {
            printf("%s: spec '%s'\n", pos[0], lam_checkpoint_meta(ck, "lamina.spec"));
        }
        lam_checkpoint_close(ck);
        rc = st == LAM_OK ? EXIT_OK : cli_lib_error(ctx, st, "info");
    } else if (st == LAM_OK) {
        int64_t shape[3];
        int nd = cli_input_shape(input, shape);
        rc = nd == 0 ? EXIT_USAGE : cli_model_for(ctx, model, nd, shape, classes.v, &m);
        if (rc == EXIT_OK) {
            printf("spec '%s'\n", lam_model_spec(m));
        }
    } else {
        rc = cli_lib_error(ctx, st, "info");
    }
    if (rc == EXIT_OK) {
        print_table(m);
    }
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return rc;
}
