/*
 * fwd_hash: a fast non-cryptographic 64-bit hash for checksums of large
 * buffers (engine files). Not for hash tables of short keys, not for
 * security.
 *
 * Definition (so other tools can check files independently):
 *  - state: four 64-bit lanes, lane[i] = seed + FWD_HASH_INIT[i].
 *  - the input is split into 32-byte stripes; each stripe is four
 *    little-endian u64 words w[0..3] and updates each lane independently:
 *        lane[i] = rotl64((lane[i] ^ w[i]) * FWD_HASH_MUL[i], 29)
 *  - the last partial stripe (0..31 bytes) is zero-padded to 32 bytes and
 *    processed the same way; an empty tail adds no stripe.
 *  - finish: h = len * FWD_HASH_MUL[0]; for i in 0..3:
 *        h = rotl64(h, 23) ^ fwd_hash_avalanche(lane[i] + i)
 *        h = h * FWD_HASH_MUL[3] + FWD_HASH_INIT[i]
 *    and the result is fwd_hash_avalanche(h), where
 *        avalanche(x): x ^= x >> 31; x *= FWD_HASH_FIN0; x ^= x >> 27;
 *                      x *= FWD_HASH_FIN1; x ^= x >> 33
 *
 * Each lane step is a bijection of the lane for a fixed word and of the
 * word for a fixed lane, so a change confined to one 8-byte word always
 * changes that lane; the finish is a bijection in each lane given the
 * others, so such a change always changes the hash.
 */
#ifndef FWD_UTIL_HASH_H
#define FWD_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FWD_HASH_INIT0 0x49ddc2f808683ba1ULL
#define FWD_HASH_INIT1 0xf189dba4de79a621ULL
#define FWD_HASH_INIT2 0xebf41e5bee592529ULL
#define FWD_HASH_INIT3 0x30d74e8d46e107f3ULL
#define FWD_HASH_MUL0 0xf6890ed547403509ULL
#define FWD_HASH_MUL1 0xdb515799a6c3e831ULL
#define FWD_HASH_MUL2 0xf84985288ffbc2b5ULL
#define FWD_HASH_MUL3 0xa1636e83711bfde9ULL
#define FWD_HASH_FIN0 0x9921a611d8e291dbULL
#define FWD_HASH_FIN1 0x52885b46715b53cfULL

/* Streaming form: init, any number of updates, final. */
typedef struct fwd_hash_state {
    uint64_t lane[4];
    uint64_t total;         /* bytes seen */
    unsigned char buf[32];  /* partial stripe */
    size_t buf_len;
} fwd_hash_state;

void fwd_hash_init(fwd_hash_state *s, uint64_t seed);
void fwd_hash_update(fwd_hash_state *s, const void *data, size_t len);
/* The hash of everything given so far (s is not changed). */
uint64_t fwd_hash_final(const fwd_hash_state *s);

/* One-shot form. */
uint64_t fwd_hash64(const void *data, size_t len, uint64_t seed);

#endif
