/* lamina info: the node table (output shape, parameters, FLOPs, inputs, how the node runs)
 * of a model spec for an input shape, or of a checkpoint, and the memory a training step of
 * it takes at a batch size. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *shape_text(lam_shape s, char *buf, size_t size)
{
    if (s.ndim == 3) {
        snprintf(buf, size, "%lldx%lldx%lld", (long long)s.dim[0], (long long)s.dim[1],
                 (long long)s.dim[2]);
    } else if (s.ndim == 2) {
        snprintf(buf, size, "%lldx%lld", (long long)s.dim[0], (long long)s.dim[1]);
    } else {
        snprintf(buf, size, "%lld", (long long)s.dim[0]);
    }
    return buf;
}

/* "in", "3" or "12,15": the nodes a node reads ("in" is the model's input). */
static const char *inputs_text(const lam_model *m, int i, char *buf, size_t size)
{
    int in[LAM_MAX_INPUTS];
    const int n = lam_model_layer_inputs(m, i, in);
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < n && used < size; k++) {
        int w = in[k] < 0 ? snprintf(buf + used, size - used, "%sin", k ? "," : "")
                          : snprintf(buf + used, size - used, "%s%d", k ? "," : "", in[k]);
        used += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

static void print_table(lam_model *m)
{
    int width = 5; /* the widest node name, for the column */
    for (int i = 0; i < lam_model_layer_count(m); i++) {
        int w = (int)strlen(lam_layer_name(lam_model_layer(m, i)));
        width = w > width ? w : width;
    }
    char shape[64], ins[64];
    printf("%-4s %-*s %-12s %12s %14s %-8s %s\n", "#", width, "layer", "output", "params",
           "FLOPs", "inputs", "strategy");
    printf("%-4s %-*s %-12s\n", "", width, "input",
           shape_text(lam_model_input_shape(m), shape, sizeof shape));
    for (int i = 0; i < lam_model_layer_count(m); i++) {
        lam_layer *l = lam_model_layer(m, i);
        /* strategy: chunked/batched GEMMs, split/blas, folded, in place, view (lamina/layer.h) */
        const char *how = lam_layer_strategy(l);
        printf("%-4d %-*s %-12s %12lld %14lld %-8s %s\n", i, width, lam_layer_name(l),
               shape_text(lam_layer_output_shape(l), shape, sizeof shape),
               (long long)lam_layer_param_count(l), (long long)lam_layer_flops(l),
               inputs_text(m, i, ins, sizeof ins), how[0] != '\0' ? how : "-");
    }
    printf("total: %lld parameters, %lld FLOPs per sample (forward), %lld per training "
           "sample\n",
           (long long)lam_model_param_count(m), (long long)lam_model_flops(m),
           (long long)lam_model_train_flops(m));
}

static double mib(int64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* What a training step at the model's batch size holds: the plan's one block of
 * activations and gradients, the parameters, and the layers' own scratch. */
static void print_memory(const lam_model *m)
{
    lam_model_memory mem;
    if (lam_model_memory_info(m, &mem) != LAM_OK) {
        return;
    }
    const long long b = (long long)lam_model_max_batch(m);
    printf("memory of a training step at batch %lld: %.1f MiB\n", b,
           mib(mem.planned + mem.parameters + mem.workspace));
    printf("  activations                %10.1f KiB per sample\n",
           (double)mem.activations_per_sample / 1024.0);
    printf("  activations and gradients  %10.1f MiB (the plan; %.1f MiB if no buffer were "
           "shared)\n", mib(mem.planned), mib(mem.unshared));
    printf("  parameters and gradients   %10.1f MiB (and running statistics)\n",
           mib(mem.parameters));
    printf("  layer scratch              %10.1f MiB (im2col columns, partial gradients, "
           "batch statistics, recurrent gates and states, attention weights)\n",
           mib(mem.workspace));
}

/* The model's name when its spec is a built-in's text, else the spec on one line (a
 * multi-line spec file is printed as it is, below a heading). */
static void print_spec(const char *label, const char *spec)
{
    for (int i = 0; lam_model_builtin_name(i) != NULL; i++) {
        const char *b = lam_model_builtin_spec(lam_model_builtin_name(i));
        if (strcmp(b, spec) == 0) {
            printf("%smodel %s (built in; README, \"Model spec language\")\n", label,
                   lam_model_builtin_name(i));
            return;
        }
    }
    if (strchr(spec, '\n') == NULL) {
        printf("%sspec '%s'\n", label, spec);
    } else {
        printf("%sspec:\n%s%s", label, spec, spec[strlen(spec) - 1] == '\n' ? "" : "\n");
    }
}

int cli_info(int argc, char **argv)
{
    const char *model = NULL, *input = NULL;
    cli_int classes = {10, 0}, batch = {64, 0};
    const cli_opt table[] = {
        cli_opt_str("--model", &model, "SPEC", "built-in name, spec file or inline spec"),
        cli_opt_str("--input", &input, "CxHxW", "input sample shape, e.g. 1x28x28, 16x32 or 784"),
        cli_opt_int("--classes", &classes, "N", "size of `out` (10)", 1, LAM_DATA_MAX_CLASSES),
        cli_opt_int("--batch", &batch, "N", "batch of the memory figures (64)", 1, 65536),
    };
    const int n_opts = (int)(sizeof table / sizeof table[0]);
    const char *pos[1];
    int n_pos;
    char err[160];
    int rc = cli_parse(argc, argv, 2, table, n_opts, pos, 1, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help("lamina info --model SPEC --input CxHxW | lamina info FILE",
                       "Print the node table and totals of a model or a checkpoint, and the\n"
                       "memory a training step of it takes at --batch.",
                       table, n_opts);
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
            st = lam_checkpoint_model(ck, batch.v, &m);
        }
        if (st == LAM_OK) {
            char label[300];
            snprintf(label, sizeof label, "%s: ", pos[0]);
            print_spec(label, lam_checkpoint_meta(ck, "lamina.spec"));
        }
        lam_checkpoint_close(ck);
        rc = st == LAM_OK ? EXIT_OK : cli_lib_error(ctx, st, "info");
    } else if (st == LAM_OK) {
        int64_t shape[3];
        int nd = cli_input_shape(input, shape);
        rc = nd == 0 ? EXIT_USAGE
                     : cli_model_for(ctx, model, nd, shape, classes.v, batch.v, &m);
        if (rc == EXIT_OK) {
            print_spec("", lam_model_spec(m));
        }
    } else {
        rc = cli_lib_error(ctx, st, "info");
    }
    if (rc == EXIT_OK) {
        print_table(m);
        print_memory(m);
    }
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return rc;
}
