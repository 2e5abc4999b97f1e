/* String -> int map (open addressing); keys are borrowed, not copied. */
#ifndef FWD_UTIL_STRMAP_H
#define FWD_UTIL_STRMAP_H

#include <stddef.h>

typedef struct fwd_strmap {
    const char **keys;
    int *vals;
    size_t cap, len;
} fwd_strmap;

/* 0 on success, -1 when out of memory. Replaces an existing key's value. */
int fwd_strmap_put(fwd_strmap *m, const char *key, int val);
/* The value, or -1 when absent. */
int fwd_strmap_get(const fwd_strmap *m, const char *key);
void fwd_strmap_free(fwd_strmap *m);

#endif
