/* A bump allocator: many small allocations freed together (IR strings,
 * attributes, node arrays, folded constants). */
#ifndef FWD_UTIL_ARENA_H
#define FWD_UTIL_ARENA_H

#include <stddef.h>

typedef struct fwd_arena_block fwd_arena_block;
typedef struct fwd_arena {
    fwd_arena_block *head;
    size_t used_bytes;
} fwd_arena;

/* Zeroed memory aligned to 64 bytes, or NULL when out of memory. */
void *fwd_arena_alloc(fwd_arena *a, size_t size);
char *fwd_arena_strdup(fwd_arena *a, const char *s);
char *fwd_arena_strndup(fwd_arena *a, const char *s, size_t n);
void *fwd_arena_memdup(fwd_arena *a, const void *p, size_t size);
void fwd_arena_free(fwd_arena *a);

#endif
