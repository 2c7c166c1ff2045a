/* lamina: train, evaluate and inspect models from the command line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Set once an error line is out: a process prints at most one (steps that print their own
 * message, then return a lam_status, must not get a second line from cli_lib_error). */
static int error_printed;

void cli_error(const char *fmt, ...)
{
    va_list ap;
    error_printed = 1;
    fputs("lamina: error: ", stderr);
    if (cli_mpi_size() > 1) {
        fprintf(stderr, "rank %d: ", cli_mpi_rank());
    }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    fputs("lamina: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_lib_error(lam_ctx *ctx, lam_status st, const char *what)
{
    const char *detail = ctx != NULL ? lam_ctx_errmsg(ctx) : "";
    if (error_printed) {
        /* already reported by the step that failed */
    } else if (detail[0] != '\0') {
        cli_error("%s", detail);
    } else {
        cli_error("%s: %s", what, lam_strerror(st));
    }
    return st == LAM_ERR_ARG ? EXIT_USAGE : EXIT_RUNTIME;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lamina <command> [options]\n\n"
               "commands:\n"
               "  train     train a model (default: seed-cnn on Fashion-MNIST)\n"
               "  eval      evaluate a checkpoint: accuracy, loss, confusion matrix\n"
               "  predict   write per-sample classes (or values) and probabilities\n"
               "  info      per-layer table of a model spec or a checkpoint\n"
               "  import    PyTorch weights (safetensors, by tensor name) into a checkpoint\n"
               "  generate  sample text from a language model's checkpoint\n\n"
               "Run 'lamina <command> --help' for its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("lamina %s\n", LAM_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "train") == 0) {
        int rc = cli_mpi_begin();
        if (rc == EXIT_OK) {
            rc = cli_train(argc, argv);
        }
        cli_mpi_end(rc);
        return rc;
    }
    if (strcmp(cmd, "eval") == 0) {
        return cli_eval(argc, argv);
    }
    if (strcmp(cmd, "predict") == 0) {
        return cli_predict(argc, argv);
    }
    if (strcmp(cmd, "info") == 0) {
        return cli_info(argc, argv);
    }
    if (strcmp(cmd, "import") == 0) {
        return cli_import(argc, argv);
    }
    if (strcmp(cmd, "generate") == 0) {
        return cli_generate(argc, argv);
    }
    cli_error("unknown command '%s' (try lamina --help)", cmd);
    return EXIT_USAGE;
}
