/* Engine files: what writer and reader share (architecture, checksum). */
#include "engine/engine_file.h"
#include <string.h>

#include "util/hash.h"

const char *engine_file_arch(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    return "unknown";
#endif
}

/* The features this build was compiled to require (CMake: -mavx2 -mfma
 * -mf16c, or -march=native which may add more). */
const char *engine_file_isa(void)
{
    /* each feature comes with a leading comma; skip the first one */
    static const char list[] = ""
#if defined(__AVX512F__)
                               ",avx512f"
#endif
#if defined(__AVX512BW__)
                               ",avx512bw"
#endif
#if defined(__AVX512VL__)
                               ",avx512vl"
#endif
#if defined(__AVX2__)
                               ",avx2"
#endif
#if defined(__FMA__)
                               ",fma"
#endif
#if defined(__F16C__)
                               ",f16c"
#endif
        ;
    return list[0] ? list + 1 : list;
}

uint64_t engine_file_checksum(const unsigned char *file, size_t size)
{
    fwd_hash_state s;
    fwd_hash_init(&s, 0);
    fwd_hash_update(&s, file, size < EF_OFF_CHECKSUM ? size : EF_OFF_CHECKSUM);
    if (size > EF_OFF_CHECKSUM + 8) fwd_hash_update(&s, file + EF_OFF_CHECKSUM + 8, size - EF_OFF_CHECKSUM - 8);
    return fwd_hash_final(&s);
}

const char *engine_file_section_name(uint32_t kind)
{
    static const char *const names[] = {"?",     "strings",   "model",   "symbols", "profiles",
                                        "graph", "memory plan", "kernel choices", "weights"};
    return kind <= EF_SEC_COUNT ? names[kind] : "unknown";
}

int engine_file_cpu_has(const char *feature)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* __builtin_cpu_supports needs literal names, hence the table */
    __builtin_cpu_init();
    if (!strcmp(feature, "avx2")) return __builtin_cpu_supports("avx2") != 0;
    if (!strcmp(feature, "fma")) return __builtin_cpu_supports("fma") != 0;
    if (!strcmp(feature, "f16c")) return __builtin_cpu_supports("f16c") != 0;
    if (!strcmp(feature, "avx512f")) return __builtin_cpu_supports("avx512f") != 0;
    if (!strcmp(feature, "avx512bw")) return __builtin_cpu_supports("avx512bw") != 0;
    if (!strcmp(feature, "avx512vl")) return __builtin_cpu_supports("avx512vl") != 0;
#else
    (void)feature;
#endif
    return -1;
}
