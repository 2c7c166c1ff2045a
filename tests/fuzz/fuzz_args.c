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
    int64_t epochs = 0;
    double lr = 0.0;
    int json = 0, n_pos = 0;
    const cli_opt table[] = {
        {"--model", ARG_STR, &model, "SPEC", "model"},
        {"--epochs", ARG_INT, &epochs, "N", "epochs"},
        {"--lr", ARG_REAL, &lr, "X", "learning rate"},
        {"--json", ARG_FLAG, &json, NULL, "json"},
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
    free(buf);
    free(argv);
    return 0;
}
