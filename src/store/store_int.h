/* store_int.h - what the files of src/store/ share and nobody else needs:
 * little-endian loads and stores for the on-disk formats, and the portable
 * CRC-32C loop (so that tests can check it on CPUs with the instruction). */
#ifndef VEX_STORE_STORE_INT_H
#define VEX_STORE_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Every integer on disk is little-endian. These compile to plain moves on
 * little-endian hosts and stay correct elsewhere. */
static inline void vex_put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void vex_put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void vex_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t vex_get_le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t vex_get_le32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t vex_get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* vex_crc32c_extend_soft is vex_crc32c_extend computed without the CPU
 * instruction; it exists so that tests cover the table code everywhere. */
uint32_t vex_crc32c_extend_soft(uint32_t crc, const void *data, size_t len);

#endif
