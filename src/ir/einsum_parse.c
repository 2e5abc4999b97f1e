/* Einsum equation parsing (see einsum_parse.h). */
#include "ir/einsum_parse.h"

#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static fwd_status fail(char *msg, size_t cap, fwd_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return s;
}

static int letter_id(char ch)
{
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* One term as written: letter ids, and where the ellipsis sits (-1: none). */
typedef struct raw_term {
    int n;
    int ids[IR_MAX_RANK + 1];
    int ell_pos;
} raw_term;

/* Parse the term in [s, e); spaces were already removed. */
static fwd_status parse_term(const char *s, const char *e, raw_term *t, char *msg, size_t cap)
{
    t->n = 0;
    t->ell_pos = -1;
    while (s < e) {
        if (*s == '.') {
            if (e - s < 3 || s[1] != '.' || s[2] != '.')
                return fail(msg, cap, FWD_ERR_INVALID_MODEL, "malformed ellipsis in equation");
            if (t->ell_pos >= 0)
                return fail(msg, cap, FWD_ERR_INVALID_MODEL, "more than one ellipsis in a term");
            t->ell_pos = t->n;
            s += 3;
            continue;
        }
        int id = letter_id(*s);
        if (id < 0) return fail(msg, cap, FWD_ERR_INVALID_MODEL, "bad character '%c' in equation", *s);
        if (t->n >= IR_MAX_RANK)
            return fail(msg, cap, FWD_ERR_INVALID_MODEL, "a term has more than %d subscripts", IR_MAX_RANK);
        t->ids[t->n++] = id;
        s++;
    }
    return FWD_OK;
}

/* Merge dim d into the size known for a label (1 broadcasts). */
static fwd_status merge_dim(einsum_spec *sp, int label, int64_t d, char *msg, size_t cap)
{
    int64_t *cur = &sp->label_dim[label];
    if (!sp->label_used[label]) {
        sp->label_used[label] = true;
        *cur = d;
        return FWD_OK;
    }
    if (d == *cur || d == 1) return FWD_OK;
    if (*cur == 1) {
        *cur = d;
        return FWD_OK;
    }
    if (d >= 0 && *cur >= 0)
        return fail(msg, cap, FWD_ERR_SHAPE, "subscript %c%s has sizes %lld and %lld",
                    label < 26 ? 'a' + label : label < 52 ? 'A' + label - 26 : '.',
                    label >= EINSUM_ELL_BASE ? " (ellipsis)" : "", (long long)*cur, (long long)d);
    if (*cur < 0 && d >= 0) *cur = d; /* a known size beats an unknown one */
    return FWD_OK;
}

fwd_status einsum_parse(const char *eq, int n_ops, const ir_shape *const *shapes,
                        einsum_spec *sp, char *msg, size_t cap)
{
    memset(sp, 0, sizeof *sp);
    if (n_ops < 1 || n_ops > EINSUM_MAX_OPERANDS)
        return fail(msg, cap, FWD_ERR_INVALID_MODEL, "%d operands (1..%d supported)", n_ops,
                    EINSUM_MAX_OPERANDS);
    char buf[512];
    size_t len = 0;
    for (const char *p = eq; *p; p++) {
        if (*p == ' ') continue;
        if (len + 1 >= sizeof buf) return fail(msg, cap, FWD_ERR_INVALID_MODEL, "equation too long");
        buf[len++] = *p;
    }
    buf[len] = 0;
    const char *arrow = strstr(buf, "->");
    const char *lhs_end = arrow ? arrow : buf + len;

    raw_term terms[EINSUM_MAX_OPERANDS];
    int nt = 0;
    const char *s = buf;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(lhs_end - s));
        const char *e = comma ? comma : lhs_end;
        if (nt >= n_ops)
            return fail(msg, cap, FWD_ERR_INVALID_MODEL, "equation has more terms than the %d inputs", n_ops);
        FWD_TRY(parse_term(s, e, &terms[nt], msg, cap));
        nt++;
        if (!comma) break;
        s = comma + 1;
    }
    if (nt != n_ops)
        return fail(msg, cap, FWD_ERR_INVALID_MODEL, "equation has %d terms for %d inputs", nt, n_ops);

    /* Ellipsis widths from the known ranks. */
    int ell[EINSUM_MAX_OPERANDS];
    int max_ell = 0;
    sp->n_ops = n_ops;
    sp->ranks_known = true;
    for (int i = 0; i < n_ops; i++) {
        int r = shapes[i]->rank;
        raw_term *t = &terms[i];
        ell[i] = 0;
        if (t->ell_pos < 0) {
            if (r >= 0 && r != t->n)
                return fail(msg, cap, FWD_ERR_SHAPE, "input %d has rank %d but its term has %d subscripts", i, r, t->n);
        } else if (r < 0) {
            sp->ranks_known = false;
        } else {
            if (r < t->n)
                return fail(msg, cap, FWD_ERR_SHAPE, "input %d has rank %d, fewer than its %d subscripts", i, r, t->n);
            ell[i] = r - t->n;
            if (ell[i] > max_ell) max_ell = ell[i];
        }
    }

    int count[EINSUM_MAX_LABELS] = {0};
    bool any_ell = false;
    for (int i = 0; i < n_ops; i++) {
        raw_term *t = &terms[i];
        int k = 0;
        for (int j = 0; j <= t->n; j++) {
            if (j == t->ell_pos) {
                any_ell = true;
                for (int q = 0; q < ell[i]; q++) {
                    int label = EINSUM_ELL_BASE + max_ell - ell[i] + q;
                    sp->labels[i][k] = (unsigned char)label;
                    if (sp->ranks_known) {
                        FWD_TRY(merge_dim(sp, label, shapes[i]->dims[k], msg, cap));
                    }
                    k++;
                }
            }
            if (j == t->n) break;
            sp->labels[i][k] = (unsigned char)t->ids[j];
            count[t->ids[j]]++;
            int64_t d = shapes[i]->rank >= 0 ? shapes[i]->dims[k] : IR_DIM_UNKNOWN;
            FWD_TRY(merge_dim(sp, t->ids[j], d, msg, cap));
            k++;
        }
        sp->rank[i] = k;
        if (k > IR_MAX_RANK) return fail(msg, cap, FWD_ERR_SHAPE, "input %d has rank > %d", i, IR_MAX_RANK);
    }

    /* Output labels. */
    int n = 0;
    if (arrow) {
        raw_term out;
        FWD_TRY(parse_term(arrow + 2, buf + len, &out, msg, cap));
        bool seen[EINSUM_MAX_LABELS] = {false};
        for (int j = 0; j <= out.n; j++) {
            if (j == out.ell_pos) {
                if (!any_ell)
                    return fail(msg, cap, FWD_ERR_INVALID_MODEL, "ellipsis in the output but not in the inputs");
                for (int q = 0; q < max_ell; q++) sp->out_labels[n++] = (unsigned char)(EINSUM_ELL_BASE + q);
            }
            if (j == out.n) break;
            int id = out.ids[j];
            if (!count[id])
                return fail(msg, cap, FWD_ERR_INVALID_MODEL, "output subscript '%c' is not in the inputs",
                            id < 26 ? 'a' + id : 'A' + id - 26);
            if (seen[id])
                return fail(msg, cap, FWD_ERR_INVALID_MODEL, "output subscript '%c' repeated",
                            id < 26 ? 'a' + id : 'A' + id - 26);
            seen[id] = true;
            if (n >= IR_MAX_RANK) return fail(msg, cap, FWD_ERR_SHAPE, "output rank > %d", IR_MAX_RANK);
            sp->out_labels[n++] = (unsigned char)id;
        }
    } else {
        for (int q = 0; q < max_ell; q++) sp->out_labels[n++] = (unsigned char)(EINSUM_ELL_BASE + q);
        /* ASCII order: 'A'..'Z' before 'a'..'z'. */
        for (int pass = 0; pass < 2; pass++) {
            int lo = pass == 0 ? 26 : 0, hi = pass == 0 ? 52 : 26;
            for (int id = lo; id < hi; id++) {
                if (count[id] != 1) continue;
                if (n >= IR_MAX_RANK) return fail(msg, cap, FWD_ERR_SHAPE, "output rank > %d", IR_MAX_RANK);
                sp->out_labels[n++] = (unsigned char)id;
            }
        }
    }
    sp->out_rank = n;
    return FWD_OK;
}
