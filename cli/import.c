/* lamina import: build a model from its spec, load a PyTorch state_dict (safetensors) into
 * it by tensor name (lam_model_import), and save it as a checkpoint that lamina eval,
 * predict and train --resume (fine-tuning) accept like any other. The checkpoint
 * normalizes no input unless --mean and --std are given: the PyTorch model came with its
 * own preprocessing, which lamina cannot know. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct import_opts {
    const char *weights, *model, *input, *out, *mean, *std, *strip;
    cli_int classes;
    int allow_unused;
} import_opts;

static const char *const usage_line =
    "lamina import --weights FILE.safetensors --model SPEC --input CxHxW --out CKPT [options]";
static const char *const about =
    "Load PyTorch weights (a state_dict saved as safetensors, e.g. by tools/export_torch.py)\n"
    "into the model SPEC by tensor name, and write a lamina checkpoint. Every parameter and\n"
    "batch-norm statistic of the model must be in the file with its shape; F64, F16 and BF16\n"
    "are converted; num_batches_tracked is ignored. `lamina info --model SPEC --input CxHxW`\n"
    "lists the names the model expects. Inputs are not normalized unless --mean and --std\n"
    "give the preprocessing the PyTorch model was trained with.";

/* --mean or --std: exactly n comma-separated finite numbers (std: each above 0) into v;
 * 0, or a usage error line and -1. */
static int parse_list(const char *flag, const char *text, int64_t n, int positive, float *v)
{
    const char *s = text;
    for (int64_t i = 0; i < n; i++) {
        char *end;
        double x = strtod(s, &end);
        if (end == s || (*end != ',' && *end != '\0') || (*end == '\0') != (i == n - 1)) {
            cli_error("%s expects %lld comma-separated numbers (one per input channel), got "
                      "'%.60s'",
                      flag, (long long)n, text);
            return -1;
        }
        if (!isfinite((float)x) || (positive && !(x > 0.0))) {
            cli_error("%s: %g is not %s", flag, x,
                      positive ? "a float32 number above 0" : "a finite float32 number");
            return -1;
        }
        v[i] = (float)x;
        s = end + 1;
    }
    return 0;
}

static int parse(int argc, char **argv, import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->classes.v = 10;
    const cli_opt table[] = {
        cli_opt_str("--weights", &o->weights, "FILE", "PyTorch state_dict as safetensors"),
        cli_opt_str("--model", &o->model, "SPEC", "built-in name, spec file or inline spec"),
        cli_opt_str("--input", &o->input, "CxHxW", "input sample shape, e.g. 3x32x32 or 784"),
        cli_opt_str("--out", &o->out, "CKPT", "the checkpoint to write"),
        cli_opt_int("--classes", &o->classes, "N", "size of `out` (10)", 1, LAM_DATA_MAX_CLASSES),
        cli_opt_str("--mean", &o->mean, "LIST",
                    "per-channel input mean, e.g. 0.49,0.48,0.45 "
                    "(with --std)"),
        cli_opt_str("--std", &o->std, "LIST", "per-channel input std, each above 0"),
        cli_opt_str("--strip-prefix", &o->strip, "P",
                    "remove P from the file's names first "
                    "(e.g. module.)"),
        cli_opt_flag("--allow-unused", &o->allow_unused, "skip file tensors the model lacks"),
    };
    const int n_opts = (int)(sizeof table / sizeof table[0]);
    const int rc = cli_parse_command(argc, argv, "import", usage_line, about, table, n_opts);
    if (rc != EXIT_OK) {
        return rc;
    }
    const char *need[4][2] = {{"--weights FILE", o->weights},
                              {"--model SPEC", o->model},
                              {"--input CxHxW", o->input},
                              {"--out CKPT", o->out}};
    for (int i = 0; i < 4; i++) {
        if (need[i][1] == NULL) {
            cli_error("%s is required (see lamina import --help)", need[i][0]);
            return EXIT_USAGE;
        }
    }
    if ((o->mean == NULL) != (o->std == NULL)) {
        cli_error("--mean and --std go together");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Save m with its input normalization (if any) and where it came from. "train.model" is
 * what `lamina train --resume` shows and builds: the built-in name, or the spec's text (a
 * spec file may be gone by then). */
static lam_status save(lam_model *m, const import_opts *o, const lam_norm_stats *ns)
{
    const lam_ckpt_floats fl[2] = {{"norm.mean", ns->mean, ns->n}, {"norm.std", ns->std, ns->n}};
    const char *keys[3] = {"import.weights", "import.model", "train.model"};
    const char *model = lam_model_builtin_spec(o->model) != NULL ? o->model : lam_model_spec(m);
    const char *vals[3] = {o->weights, o->model, model};
    lam_ckpt_extras ex = {fl, ns->n > 0 ? 2 : 0, NULL, NULL, 0, keys, vals, 3};
    return lam_checkpoint_save(m, NULL, o->out, &ex);
}

int cli_import(int argc, char **argv)
{
    import_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != EXIT_OK) {
        return rc < 0 ? EXIT_OK : rc;
    }
    int64_t shape[3];
    int nd = cli_input_shape(o.input, shape);
    if (nd == 0) {
        return EXIT_USAGE;
    }
    /* per input channel: C of CxHxW, F of a feature vector */
    float *norm = o.mean != NULL ? malloc(2 * (size_t)shape[0] * sizeof *norm) : NULL;
    lam_norm_stats ns = {norm != NULL ? shape[0] : 0, norm, norm != NULL ? norm + shape[0] : NULL};
    if (o.mean != NULL && norm == NULL) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (o.mean != NULL && (parse_list("--mean", o.mean, ns.n, 0, ns.mean) != 0 ||
                           parse_list("--std", o.std, ns.n, 1, ns.std) != 0)) {
        free(norm);
        return EXIT_USAGE;
    }
    if (cli_check_writable("--out", o.out) != 0) {
        free(norm);
        return EXIT_RUNTIME;
    }
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_status st = lam_ctx_create(NULL, &ctx);
    rc = st != LAM_OK ? cli_lib_error(ctx, st, "import")
                      : cli_model_for(ctx, o.model, nd, shape, o.classes.v, 1, &m);
    lam_import_desc d;
    lam_import_desc_init(&d);
    d.strip_prefix = o.strip;
    d.allow_unused = o.allow_unused;
    lam_import_report rep;
    if (rc == EXIT_OK) {
        st = lam_model_import(m, o.weights, &d, &rep);
        st = st == LAM_OK ? save(m, &o, &ns) : st;
        if (st != LAM_OK) {
            /* the file's fault (a missing, extra or mis-shaped tensor) or I/O: exit 1 */
            cli_lib_error(ctx, st, o.weights);
            rc = EXIT_RUNTIME;
        }
    }
    if (rc == EXIT_OK) {
        printf("lamina import: %s -> %s: %d tensors loaded (%lld values), %d ignored, "
               "%d converted to float32; %s for %s, %lld classes, inputs %s\n",
               o.weights, o.out, rep.tensors, (long long)rep.floats, rep.ignored, rep.converted,
               o.model, o.input, (long long)o.classes.v,
               ns.n > 0 ? "normalized by --mean and --std" : "not normalized");
    }
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    free(norm);
    return rc;
}
