#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 65536
#define ARENA_ALIGN 64

struct fwd_arena_block {
    fwd_arena_block *next;
    size_t cap, used;
    unsigned char *base; /* aligned start of the payload */
};

static fwd_arena_block *block_new(size_t cap)
{
    fwd_arena_block *b = malloc(sizeof *b + cap + ARENA_ALIGN);
    if (!b) return NULL;
    unsigned char *raw = (unsigned char *)(b + 1);
    b->base = (unsigned char *)(((size_t)raw + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
    b->cap = cap;
    b->used = 0;
    b->next = NULL;
    return b;
}

void *fwd_arena_alloc(fwd_arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size) return NULL; /* overflow */
    if (need == 0) need = ARENA_ALIGN;
    fwd_arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        if (need > ARENA_BLOCK / 4) {
            /* big allocation: a block of its own, kept behind the head */
            fwd_arena_block *big = block_new(need);
            if (!big) return NULL;
            big->used = need;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                a->head = big;
            }
            a->used_bytes += need;
            memset(big->base, 0, need);
            return big->base;
        }
        b = block_new(ARENA_BLOCK);
        if (!b) return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->base + b->used;
    b->used += need;
    a->used_bytes += need;
    memset(p, 0, need);
    return p;
}

char *fwd_arena_strndup(fwd_arena *a, const char *s, size_t n)
{
    char *p = fwd_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *fwd_arena_strdup(fwd_arena *a, const char *s)
{
    return fwd_arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}

void *fwd_arena_memdup(fwd_arena *a, const void *p, size_t size)
{
    void *q = fwd_arena_alloc(a, size);
    if (q && size) memcpy(q, p, size);
    return q;
}

void fwd_arena_free(fwd_arena *a)
{
    fwd_arena_block *b = a->head;
    while (b) {
        fwd_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used_bytes = 0;
}
