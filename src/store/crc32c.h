/* crc32c.h - CRC-32C (Castagnoli), the checksum of every vex on-disk format.
 *
 * The polynomial is 0x1EDC6F41 (reflected 0x82F63B78), initial value and final
 * xor 0xFFFFFFFF, as in iSCSI (RFC 3720) and ext4: CRC-32C("123456789") is
 * 0xE3069283. The x86-64 CRC32 instruction computes it when the CPU has SSE4.2;
 * elsewhere a table-driven loop does. */
#ifndef VEX_STORE_CRC32C_H
#define VEX_STORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* vex_crc32c_extend continues a checksum: the CRC-32C of A followed by B is
 * vex_crc32c_extend(vex_crc32c_extend(0, A, |A|), B, |B|). Start with 0. */
uint32_t vex_crc32c_extend(uint32_t crc, const void *data, size_t len);

/* vex_crc32c_of is the CRC-32C of one buffer. */
uint32_t vex_crc32c_of(const void *data, size_t len);

#endif
