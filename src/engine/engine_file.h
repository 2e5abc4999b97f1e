/*
 * Engine files: the serialized form of a built engine (format version 1).
 *
 * All integers are little-endian and fixed width; f32 is IEEE-754 binary32.
 * Offsets are from the start of the file unless a field says otherwise.
 *
 * Header (168 bytes, then the section table)
 *   off  size  field
 *     0     8  magic "FWDENGN\0"
 *     8     4  u32 format version (ENGINE_FILE_VERSION)
 *    12     4  u32 header size: 168 + 24 * section count
 *    16     8  u64 file size in bytes
 *    24     8  u64 checksum: fwd_hash64 (util/hash.h, seed 0) of bytes
 *              [0, 24) followed by bytes [32, file size), i.e. of the
 *              whole file except this field
 *    32    32  producer: the writing library's FWD_VERSION_STRING, NUL-padded
 *    64    16  device: "cpu", NUL-padded
 *    80    16  architecture: "x86_64", "aarch64", ..., NUL-padded
 *    96    48  ISA features the writing build requires, comma-separated
 *              ("avx2,fma,f16c"), NUL-padded; the loading CPU must have all
 *   144     4  u32 infer mode (fwd_mode: 0 float32, 1 float16, 2 int8,
 *              3 int8_calib)
 *   148     4  u32 optimization level
 *   152     8  u64 workspace bytes (0: no limit)
 *   160     4  u32 section count (at most ENGINE_FILE_MAX_SECTIONS)
 *   164     4  reserved, 0
 *   168  24*n  section table: per section u32 kind, u32 reserved (0),
 *              u64 offset, u64 size. Every kind below appears exactly once;
 *              unknown kinds are skipped. Sections start 8-byte aligned
 *              (the weights 64-byte aligned), lie inside the file and do
 *              not overlap the header.
 *
 * Common records
 *   str     u32 offset into the strings section, u32 length; the bytes
 *           [offset, offset+length) are the string and byte offset+length
 *           is a NUL. A length of 0xFFFFFFFF with offset 0 is a NULL string.
 *   dataref u64 offset into the weights section (a multiple of 64), u64
 *           byte count; the bytes lie inside the weights section.
 *   shape   i32 rank (-1 unknown, else 0..FWD_MAX_DIMS), i64 dims[rank];
 *           a dim is >= 0 (known), -1 (unknown) or <= -2 (symbol -2-dim,
 *           an index into the symbols section).
 *
 * Section 1, strings: the bytes the str records point into.
 * Section 2, model: str format, str producer, i64 IR version, u32 opset
 *   count, per opset: str domain, i64 version.
 * Section 3, symbols: u32 count, str name per symbolic dim (distinct).
 * Section 4, profiles: u32 count (the main graph's input count), per
 *   input: i32 rank (-1: any shape; else the input's rank), i64 min[rank],
 *   i64 opt[rank], i64 max[rank] with 0 <= min <= opt <= max, or max -1
 *   (no upper bound) and 0 <= min <= opt.
 * Section 5, graph: the main graph as a graph record:
 *   graph   str name; u32 value count, values; u32 input count, i32 value
 *           ids; u32 output count, i32 value ids; u32 node count, nodes.
 *   value   str name; u32 kind (ir_value_kind 0..3); u32 flags (bit 0 graph
 *           output, bit 1 has data, bit 2 has quantisation); u32 dtype
 *           (fwd_dtype); shape; if has data: dataref (the byte count is the
 *           shape's element count times the dtype size); if quantised:
 *           i32 axis, i32 count, u32 flags (bit 0 scales, bit 1 zero
 *           points), then a dataref of count f32 scales and/or count i32
 *           zero points.
 *   node    str op type, str name, str domain, i32 opset; u32 input count,
 *           i32 value ids (-1 absent); u32 output count, i32 value ids;
 *           u32 attribute count, attributes.
 *   attr    str name, u32 type (ir_attr_type), then by type: FLOAT f32;
 *           INT i64; STRING str (may hold NULs); TENSOR u32 present, tensor;
 *           GRAPH u32 present, graph record (a subgraph of the node's graph);
 *           FLOATS u32 n, f32[n]; INTS u32 n, i64[n]; STRINGS u32 n, str[n];
 *           TENSORS u32 n, tensor[n]; GRAPHS u32 n, graph[n]; UNDEFINED
 *           nothing.
 *   tensor  u32 dtype, u32 flags (bit 1 has data), shape, [dataref].
 *   Subgraphs nest at most ENGINE_FILE_MAX_DEPTH deep.
 * Section 6, memory plan: u32 value count (0: no plan, else the main
 *   graph's value count), u32 reserved, u64 arena bytes, u64 unplanned
 *   bytes, u64 kernel workspace bytes (at most 2^36), then per value i64 offset (-1 unplanned, else a multiple of
 *   64), i64 capacity; every planned range lies inside the arena, and the arena ends at most 4096
 *   bytes after the last planned range (0 bytes without a plan).
 * Section 7, kernel choices: u32 count (the nodes of every graph, in the
 *   order the graph section lists them, subgraphs right after the node that
 *   holds them), u32 choice per node: 0 = the backend's default kernel
 *   (other values are reserved for tactics).
 * Section 8, weights: constant data; each blob starts 64-byte aligned from
 *   the start of the file, padding is zero. Loaded engines point into the
 *   mapped file instead of copying.
 */
#ifndef FWD_ENGINE_ENGINE_FILE_H
#define FWD_ENGINE_ENGINE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define ENGINE_FILE_MAGIC "FWDENGN"   /* 8 bytes with its NUL */
#define ENGINE_FILE_VERSION 1u
#define ENGINE_FILE_FIXED_HEADER 168u
#define ENGINE_FILE_SECTION_ENTRY 24u
#define ENGINE_FILE_MAX_SECTIONS 64u
#define ENGINE_FILE_MAX_DEPTH 32
#define ENGINE_FILE_WEIGHT_ALIGN 64u

/* Header field offsets. */
#define EF_OFF_VERSION 8
#define EF_OFF_HEADER_SIZE 12
#define EF_OFF_FILE_SIZE 16
#define EF_OFF_CHECKSUM 24
#define EF_OFF_PRODUCER 32
#define EF_OFF_DEVICE 64
#define EF_OFF_ARCH 80
#define EF_OFF_ISA 96
#define EF_OFF_MODE 144
#define EF_OFF_OPT_LEVEL 148
#define EF_OFF_WORKSPACE 152
#define EF_OFF_N_SECTIONS 160
#define EF_LEN_PRODUCER 32
#define EF_LEN_DEVICE 16
#define EF_LEN_ARCH 16
#define EF_LEN_ISA 48

enum engine_section_kind {
    EF_SEC_STRINGS = 1,
    EF_SEC_MODEL = 2,
    EF_SEC_SYMBOLS = 3,
    EF_SEC_PROFILES = 4,
    EF_SEC_GRAPH = 5,
    EF_SEC_MEMPLAN = 6,
    EF_SEC_KERNELS = 7,
    EF_SEC_WEIGHTS = 8,
    EF_SEC_COUNT = 8
};

/* Value flags, tensor flags and quantisation flags. */
#define EF_VALUE_OUTPUT 1u
#define EF_HAS_DATA 2u
#define EF_VALUE_QUANT 4u
#define EF_QUANT_SCALE 1u
#define EF_QUANT_ZERO 2u

#define EF_NULL_STRING 0xFFFFFFFFu

/* The architecture name and required ISA features of this build. */
const char *engine_file_arch(void);
const char *engine_file_isa(void);
/* 1 when this CPU has the ISA feature ("avx2"), 0 when not, -1 when the
 * name is unknown to this library. */
int engine_file_cpu_has(const char *feature);
/* The checksum of a whole file image (the checksum field excluded). */
uint64_t engine_file_checksum(const unsigned char *file, size_t size);
/* A section kind's name for messages ("graph", ...). */
const char *engine_file_section_name(uint32_t kind);

/* Serialize e to path (through path.tmp and a rename). */
fwd_status engine_file_write(const struct fwd_engine *e, const char *path);

/*
 * Rebuild an engine from a file image. data must be 64-byte aligned and
 * stay valid as long as the engine: on success the engine's model owns the
 * mapping [map, map + map_size) and unmaps it when freed; on failure the
 * caller still owns it. label names the source in messages.
 */
fwd_status engine_file_read(const unsigned char *data, size_t size, void *map, size_t map_size,
                            const char *label, struct fwd_engine **out);

#endif
