/*
 * Winograd convolutions (F(2x2, 3x3) and F(4x4, 3x3)) against a direct
 * reference computed here in double precision, through the public API.
 * Each case is a Conv (+ Add of a residual input) (+ an activation) made
 * as an ONNX model in memory; at optimization level 1 the builder fuses
 * it into one FusedConv, and FWD_WINOGRAD=2/4 makes it pick that
 * algorithm for any 3x3 stride-1 shape it qualifies for (FWD_WINOGRAD=0:
 * direct, for comparison); F(4x4) also runs on both of its schedules
 * (FWD_WINOGRAD_BLOCKED=0/1: whole-image steps, or per-thread blocks of
 * tile rows). Shapes cover channels that are not multiples
 * of 8 or 16, odd and tiny images, pads 0 and 1 (also asymmetric),
 * batches, every fused activation.
 *
 *   test_winograd            FWD_NO_AVX512=1 runs the AVX2 kernels
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_case.h"

/* ---- the cases: 3x3, stride 1 ---- */

static const conv_case cases[] = {
    {1, 8, 8, 8, 24, 3, 3, 1, 1, {1, 1, 1, 1}, 0, "Relu", 0},
    {1, 13, 17, 19, 24, 3, 3, 1, 1, {1, 1, 1, 1}, 1, "Relu", 0},
    {2, 37, 14, 14, 48, 3, 3, 1, 1, {1, 1, 1, 1}, 1, NULL, 0},
    {1, 20, 9, 23, 24, 3, 3, 1, 1, {0, 0, 0, 0}, 0, "LeakyRelu", 0},
    {1, 16, 28, 28, 48, 3, 3, 1, 1, {1, 1, 1, 1}, 1, "Clip", 0},
    {3, 9, 7, 7, 24, 3, 3, 1, 1, {1, 1, 1, 1}, 0, "Sigmoid", 0},
    {1, 64, 56, 56, 48, 3, 3, 1, 1, {1, 1, 1, 1}, 1, "Relu", 0},
    {1, 11, 5, 6, 24, 3, 3, 1, 1, {1, 0, 0, 1}, 0, "Tanh", 0},
    {1, 24, 31, 70, 24, 3, 3, 1, 1, {1, 1, 1, 1}, 0, "HardSwish", 0},
    {2, 10, 4, 4, 24, 3, 3, 1, 1, {1, 1, 1, 1}, 1, "Relu", 0},
    {1, 33, 12, 3, 72, 3, 3, 1, 1, {0, 1, 2, 1}, 0, "Relu", 0},
};

static void run_case(const conv_case *t)
{
    conv_case_data d;
    cc_prepare(t, &d);
    const char *algos[3] = {"0", "2", "4"};
    for (int a = 0; a < 3; a++) {
        double err = cc_run(&d, "FWD_WINOGRAD", algos[a], true, 1);
        /* F(4x4)'s larger transform constants cost a few bits */
        double tol = a == 2 ? 1e-5 : 5e-6;
        tu_check(err >= 0 && err <= tol, "%s, FWD_WINOGRAD=%s: max error %.2e <= %.0e", d.what, algos[a], err, tol);
    }
    /* F(4x4) on both of its schedules, whichever the shape would get */
    const char *sched[2] = {"0", "1"};
    for (int b = 0; b < 2; b++) {
        setenv("FWD_WINOGRAD_BLOCKED", sched[b], 1);
        double err = cc_run(&d, "FWD_WINOGRAD", "4", true, 1);
        tu_check(err >= 0 && err <= 1e-5, "%s, F(4x4), FWD_WINOGRAD_BLOCKED=%s: max error %.2e <= 1e-5", d.what,
                 sched[b], err);
    }
    unsetenv("FWD_WINOGRAD_BLOCKED");
    cc_free(&d);
}

int main(void)
{
    tu_seed(7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    return tu_summary();
}
