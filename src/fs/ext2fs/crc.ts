/**
 * The two checksums ext2/3/4 uses: CRC32C (Castagnoli, for metadata_csum and
 * the jbd2 v2/v3 checksums) and the 16-bit CRC of gdt_csum/uninit_bg.
 * Both are table-driven, reflected, and — as in the kernel's crc32c_le() and
 * crc16() — return the raw register with no final inversion: ext4 chains
 * them (the seed of one structure is the result of another).
 */

function reflectedTable(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
}

/** Castagnoli polynomial 0x1EDC6F41, reflected. */
const CRC32C = reflectedTable(0x82f63b78);
/** CRC-16/ANSI polynomial 0x8005, reflected (the kernel's lib/crc16.c). */
const CRC16 = reflectedTable(0xa001);

/** Slicing-by-8 tables: T[k][n] is the CRC of byte n followed by k zero bytes (8 bytes per step on the hot path). */
const T8: Uint32Array[] = [CRC32C];
for (let k = 1; k < 8; k++) {
  const prev = T8[k - 1]!;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ CRC32C[prev[n]! & 0xff]!;
  T8.push(t);
}
const [S0, S1, S2, S3, S4, S5, S6, S7] = T8 as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

/** crc32c_le(crc, data): continue a CRC32C over `data` from register value `crc`. */
export function crc32c(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c = S7[c & 0xff]! ^ S6[(c >>> 8) & 0xff]! ^ S5[(c >>> 16) & 0xff]! ^ S4[c >>> 24]! ^
      S3[data[i + 4]!]! ^ S2[data[i + 5]!]! ^ S1[data[i + 6]!]! ^ S0[data[i + 7]!]!;
  }
  for (; i < end; i++) c = CRC32C[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** crc32c over a little-endian 32-bit value (inode numbers, group numbers, generations). */
export function crc32cU32(crc: number, v: number): number {
  let c = crc >>> 0;
  for (let i = 0; i < 4; i++) c = CRC32C[(c ^ (v >>> (8 * i))) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** crc32c over a little-endian 64-bit value (block numbers). */
export function crc32cU64(crc: number, v: number): number {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, v >>> 0, true);
  dv.setUint32(4, Math.floor(v / 0x100000000) >>> 0, true);
  return crc32c(crc, b);
}

/** crc16(crc, data) as in the kernel. */
export function crc16(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc & 0xffff;
  for (let i = start; i < end; i++) c = (CRC16[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) & 0xffff;
  return c;
}
