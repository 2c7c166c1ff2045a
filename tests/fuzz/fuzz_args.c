/* The command line's argument parser: the input is split at NUL bytes into argv and parsed
 * against a table with every argument type, as `lamina train` uses them. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    char *buf = malloc(size + 1);
    char **argv = malloc(sizeof(char *) * (size + 3));
    if (buf == NULL || argv == NULL) {
        free(buf);
        free(argv);
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    int argc = 0;
    argv[argc++] = "lamina";
    argv[argc++] = "train";
    for (size_t i = 0; i <= size;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    const char *model = NULL, *pos[2];
    cli_int epochs = {0, 0};
    cli_real lr = {0.0, 0};
    int json = 0, n_pos = 0;
    const cli_opt table[] = {
        cli_opt_str("--model", &model, "SPEC", "model"),
        cli_opt_int("--epochs", &epochs, "N", "epochs", 1, 10000),
        cli_opt_real("--lr", &lr, "X", "learning rate", 0.0, 1e9, CLI_OPEN_LO),
        cli_opt_flag("--json", &json, "json"),
    };
    char err[160];
    int rc = cli_parse(argc, argv, 2, table, 4, pos, 2, &n_pos, err, sizeof err);
    /* invariants: a usage error always explains itself in one line */
    if (rc < 0 && (err[0] == '\0' || strchr(err, '\n') != NULL)) {
        abort();
    }
    if (n_pos > 2) {
        abort();
    }
    /* a number is taken only inside its range, and "given" is recorded with it */
    if (rc == 0 && ((epochs.set && !(epochs.v >= 1 && epochs.v <= 10000)) ||
                    (lr.set && !(lr.v > 0.0 && lr.v <= 1e9)) ||
                    (!epochs.set && epochs.v != 0) || (!lr.set && lr.v != 0.0))) {
        abort();
    }
    free(buf);
    free(argv);
    return 0;
}
