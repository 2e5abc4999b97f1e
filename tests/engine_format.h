/*
 * The engine file's documented layout (src/engine/engine_file.h) as the
 * corruption tests need it: header offsets, the section table, and the
 * checksum (fwd_hash64 of src/util/hash.h, implemented here again from its
 * description), so a test can change bytes and make the file consistent
 * again (structure fuzzing). Header-only: static functions.
 */
#ifndef FWD_TESTS_ENGINE_FORMAT_H
#define FWD_TESTS_ENGINE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { OFF_VERSION = 8, OFF_FILE_SIZE = 16, OFF_CHECKSUM = 24, OFF_DEVICE = 64, OFF_ARCH = 80,
       OFF_ISA = 96, OFF_N_SECTIONS = 160, FIXED_HEADER = 168, SECTION_ENTRY = 24, SEC_WEIGHTS = 8 };

static inline uint64_t get_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t get_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static const uint64_t H_INIT[4] = {0x49ddc2f808683ba1ULL, 0xf189dba4de79a621ULL, 0xebf41e5bee592529ULL,
                                   0x30d74e8d46e107f3ULL};
static const uint64_t H_MUL[4] = {0xf6890ed547403509ULL, 0xdb515799a6c3e831ULL, 0xf84985288ffbc2b5ULL,
                                  0xa1636e83711bfde9ULL};
static const uint64_t H_FIN0 = 0x9921a611d8e291dbULL, H_FIN1 = 0x52885b46715b53cfULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t aval(uint64_t x)
{
    x ^= x >> 31;
    x *= H_FIN0;
    x ^= x >> 27;
    x *= H_FIN1;
    return x ^ (x >> 33);
}

/* fwd_hash64 with seed 0 of the file minus its checksum field, written
 * from the description in hash.h (byte at a time: clarity over speed). */
static inline uint64_t file_checksum(const unsigned char *f, size_t size)
{
    uint64_t lane[4] = {H_INIT[0], H_INIT[1], H_INIT[2], H_INIT[3]};
    unsigned char stripe[32];
    size_t fill = 0, total = 0;
    for (size_t i = 0; i < size; i++) {
        if (i >= OFF_CHECKSUM && i < OFF_CHECKSUM + 8) continue;
        stripe[fill++] = f[i];
        total++;
        if (fill == 32 || (i + 1 == size && fill)) {
            memset(stripe + fill, 0, 32 - fill);
            for (int k = 0; k < 4; k++) lane[k] = rotl((lane[k] ^ get_u64(stripe + 8 * k)) * H_MUL[k], 29);
            fill = 0;
        }
    }
    uint64_t h = total * H_MUL[0];
    for (int k = 0; k < 4; k++) {
        h = rotl(h, 23) ^ aval(lane[k] + (uint64_t)k);
        h = h * H_MUL[3] + H_INIT[k];
    }
    return aval(h);
}

static inline void fix_checksum(unsigned char *f, size_t size)
{
    if (size < OFF_CHECKSUM + 8) return;
    uint64_t h = file_checksum(f, size);
    memcpy(f + OFF_CHECKSUM, &h, 8);
}

/* Offset of the weights section (the file's size when it has none): the
 * bytes before it are the structure a fuzzer aims at. */
static inline uint64_t weights_offset(const unsigned char *file, size_t size)
{
    uint64_t off = size;
    if (size < FIXED_HEADER) return off;
    uint32_t n_sec = get_u32(file + OFF_N_SECTIONS);
    for (uint32_t s = 0; s < n_sec && s < 64 && FIXED_HEADER + SECTION_ENTRY * (s + 1) <= size; s++) {
        const unsigned char *ent = file + FIXED_HEADER + SECTION_ENTRY * s;
        if (get_u32(ent) == SEC_WEIGHTS) off = get_u64(ent + 8);
    }
    return off < size ? off : size;
}

#endif
