/* Small SVG charts for `lamina train --plot` and `lamina-bench --plot`. Programs only (not
 * part of the library). Files are written to a temporary sibling and renamed into place. */
#ifndef LAM_CLI_SVG_H
#define LAM_CLI_SVG_H

#include <stddef.h>

typedef struct svg_series {
    const char *label;     /* legend text */
    const double *x;       /* n points; NaN y values are gaps */
    const double *y;
    int n;
} svg_series;

typedef struct svg_panel {
    const char *title;     /* e.g. "loss" */
    const char *x_label;   /* e.g. "epoch" */
    const char *y_label;
    const svg_series *series;
    int n_series;
    int log_y;             /* 1: logarithmic y axis (values <= 0 skipped) */
} svg_panel;

/* Line charts: panels side by side in one SVG file (with axes, ticks, grid, legend).
 * Returns 0 on success, -1 with errno set on an I/O failure (no partial file left). */
int svg_write_lines(const char *path, const char *title, const svg_panel *panels, int n_panels);

typedef struct svg_bar {
    const char *label;     /* category under the bar */
    double value;
} svg_bar;

/* Horizontal bar chart (e.g. speedups), with the value printed at the end of each bar and an
 * optional reference line at ref (0 = none). Same return convention. */
int svg_write_bars(const char *path, const char *title, const char *value_label,
                   const svg_bar *bars, int n_bars, double ref);

#endif
