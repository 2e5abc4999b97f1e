/* fwd_hash: four independent multiply/rotate lanes (see hash.h). */
#include "util/hash.h"

#include <string.h>

static const uint64_t k_init[4] = {FWD_HASH_INIT0, FWD_HASH_INIT1, FWD_HASH_INIT2, FWD_HASH_INIT3};

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t avalanche(uint64_t x)
{
    x ^= x >> 31;
    x *= FWD_HASH_FIN0;
    x ^= x >> 27;
    x *= FWD_HASH_FIN1;
    x ^= x >> 33;
    return x;
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The bulk loop: whole stripes only. The four lanes have no dependency on
 * each other, so their multiplies overlap in the pipeline. */
static void stripes(uint64_t lane[4], const unsigned char *p, size_t n_stripes)
{
    uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3];
    for (size_t i = 0; i < n_stripes; i++, p += 32) {
        a = rotl64((a ^ load64(p)) * FWD_HASH_MUL0, 29);
        b = rotl64((b ^ load64(p + 8)) * FWD_HASH_MUL1, 29);
        c = rotl64((c ^ load64(p + 16)) * FWD_HASH_MUL2, 29);
        d = rotl64((d ^ load64(p + 24)) * FWD_HASH_MUL3, 29);
    }
    lane[0] = a;
    lane[1] = b;
    lane[2] = c;
    lane[3] = d;
}

void fwd_hash_init(fwd_hash_state *s, uint64_t seed)
{
    for (int i = 0; i < 4; i++) s->lane[i] = seed + k_init[i];
    s->total = 0;
    s->buf_len = 0;
}

void fwd_hash_update(fwd_hash_state *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->buf_len) {
        size_t take = 32 - s->buf_len;
        if (take > len) take = len;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += take;
        p += take;
        len -= take;
        if (s->buf_len < 32) return;
        stripes(s->lane, s->buf, 1);
        s->buf_len = 0;
    }
    size_t whole = len / 32;
    stripes(s->lane, p, whole);
    p += whole * 32;
    len -= whole * 32;
    if (len) {
        memcpy(s->buf, p, len);
        s->buf_len = len;
    }
}

uint64_t fwd_hash_final(const fwd_hash_state *s)
{
    uint64_t lane[4] = {s->lane[0], s->lane[1], s->lane[2], s->lane[3]};
    if (s->buf_len) {
        unsigned char last[32] = {0};
        memcpy(last, s->buf, s->buf_len);
        stripes(lane, last, 1);
    }
    uint64_t h = s->total * FWD_HASH_MUL0;
    for (int i = 0; i < 4; i++) {
        h = rotl64(h, 23) ^ avalanche(lane[i] + (uint64_t)i);
        h = h * FWD_HASH_MUL3 + k_init[i];
    }
    return avalanche(h);
}

uint64_t fwd_hash64(const void *data, size_t len, uint64_t seed)
{
    fwd_hash_state s;
    fwd_hash_init(&s, seed);
    fwd_hash_update(&s, data, len);
    return fwd_hash_final(&s);
}
