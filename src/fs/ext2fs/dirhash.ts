/**
 * The htree name hashes [DL §4.4.2.1 "Hash functions"; the kernel's fs/ext4/hash.c]:
 * legacy (dx_hack_hash), half-MD4 and TEA, each in a signed-char and an
 * unsigned-char flavour (the superblock's s_flags chooses). They decide which
 * leaf block of a hashed directory holds a name, so they must match bit for bit.
 */

export const DX_HASH = { LEGACY: 0, HALF_MD4: 1, TEA: 2, LEGACY_UNSIGNED: 3, HALF_MD4_UNSIGNED: 4, TEA_UNSIGNED: 5, SIPHASH: 6 } as const;

function dxHack(name: Uint8Array, signed: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (let i = 0; i < name.length; i++) {
    const c = signed ? (name[i]! << 24) >> 24 : name[i]!;
    let hash = (hash1 + (hash0 ^ Math.imul(c, 7152373))) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

/** str2hashbuf: packs up to num*4 bytes of the name into `num` words, padded with a length pattern. */
function str2hashbuf(msg: Uint8Array, off: number, len: number, out: Uint32Array, num: number, signed: boolean): void {
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  if (len > num * 4) len = num * 4;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = signed ? (msg[off + i]! << 24) >> 24 : msg[off + i]!;
    val = (c + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out[o++] = val;
      val = pad;
      num--;
    }
  }
  if (--num >= 0) out[o++] = val;
  while (--num >= 0) out[o++] = pad;
}

const rol = (x: number, s: number): number => ((x << s) | (x >>> (32 - s))) >>> 0;

function halfMd4(buf: Uint32Array, inp: Uint32Array): void {
  let a = buf[0]!, b = buf[1]!, c = buf[2]!, d = buf[3]!;
  const F = (x: number, y: number, z: number): number => (z ^ (x & (y ^ z))) >>> 0;
  const G = (x: number, y: number, z: number): number => ((x & y) + ((x ^ y) & z)) >>> 0;
  const H = (x: number, y: number, z: number): number => (x ^ y ^ z) >>> 0;
  const K2 = 0x5a827999, K3 = 0x6ed9eba1;
  const R = (f: typeof F, w: number, x: number, y: number, z: number, k: number, s: number): number =>
    rol((w + f(x, y, z) + k) >>> 0, s);
  a = R(F, a, b, c, d, inp[0]!, 3); d = R(F, d, a, b, c, inp[1]!, 7);
  c = R(F, c, d, a, b, inp[2]!, 11); b = R(F, b, c, d, a, inp[3]!, 19);
  a = R(F, a, b, c, d, inp[4]!, 3); d = R(F, d, a, b, c, inp[5]!, 7);
  c = R(F, c, d, a, b, inp[6]!, 11); b = R(F, b, c, d, a, inp[7]!, 19);
  a = R(G, a, b, c, d, (inp[1]! + K2) >>> 0, 3); d = R(G, d, a, b, c, (inp[3]! + K2) >>> 0, 5);
  c = R(G, c, d, a, b, (inp[5]! + K2) >>> 0, 9); b = R(G, b, c, d, a, (inp[7]! + K2) >>> 0, 13);
  a = R(G, a, b, c, d, (inp[0]! + K2) >>> 0, 3); d = R(G, d, a, b, c, (inp[2]! + K2) >>> 0, 5);
  c = R(G, c, d, a, b, (inp[4]! + K2) >>> 0, 9); b = R(G, b, c, d, a, (inp[6]! + K2) >>> 0, 13);
  a = R(H, a, b, c, d, (inp[3]! + K3) >>> 0, 3); d = R(H, d, a, b, c, (inp[7]! + K3) >>> 0, 9);
  c = R(H, c, d, a, b, (inp[2]! + K3) >>> 0, 11); b = R(H, b, c, d, a, (inp[6]! + K3) >>> 0, 15);
  a = R(H, a, b, c, d, (inp[1]! + K3) >>> 0, 3); d = R(H, d, a, b, c, (inp[5]! + K3) >>> 0, 9);
  c = R(H, c, d, a, b, (inp[0]! + K3) >>> 0, 11); b = R(H, b, c, d, a, (inp[4]! + K3) >>> 0, 15);
  buf[0] = (buf[0]! + a) >>> 0; buf[1] = (buf[1]! + b) >>> 0;
  buf[2] = (buf[2]! + c) >>> 0; buf[3] = (buf[3]! + d) >>> 0;
}

function tea(buf: Uint32Array, inp: Uint32Array): void {
  let sum = 0;
  let b0 = buf[0]!, b1 = buf[1]!;
  const a = inp[0]!, b = inp[1]!, c = inp[2]!, d = inp[3]!;
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) >>> 0) ^ ((b1 + sum) >>> 0) ^ (((b1 >>> 5) + b) >>> 0))) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) >>> 0) ^ ((b0 + sum) >>> 0) ^ (((b0 >>> 5) + d) >>> 0))) >>> 0;
  }
  buf[0] = (buf[0]! + b0) >>> 0;
  buf[1] = (buf[1]! + b1) >>> 0;
}

/**
 * ext4fs_dirhash: the major hash of `name` (low bit clear) for `version` (already adjusted for
 * unsigned), with the superblock's 16-byte seed (all zero = default seed).
 */
export function dirhash(name: Uint8Array, version: number, seed: Uint8Array): number {
  const buf = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  if (seed.some((b) => b !== 0)) {
    const dv = new DataView(seed.buffer, seed.byteOffset, 16);
    for (let i = 0; i < 4; i++) buf[i] = dv.getUint32(i * 4, true);
  }
  let hash: number;
  const inp = new Uint32Array(8);
  switch (version) {
    case DX_HASH.LEGACY:
    case DX_HASH.LEGACY_UNSIGNED:
      hash = dxHack(name, version === DX_HASH.LEGACY);
      break;
    case DX_HASH.HALF_MD4:
    case DX_HASH.HALF_MD4_UNSIGNED: {
      const signed = version === DX_HASH.HALF_MD4;
      for (let p = 0, len = name.length; len > 0; len -= 32, p += 32) {
        str2hashbuf(name, p, len, inp, 8, signed);
        halfMd4(buf, inp);
      }
      hash = buf[1]!;
      break;
    }
    case DX_HASH.TEA:
    case DX_HASH.TEA_UNSIGNED: {
      const signed = version === DX_HASH.TEA;
      for (let p = 0, len = name.length; len > 0; len -= 16, p += 16) {
        str2hashbuf(name, p, len, inp, 4, signed);
        tea(buf, inp);
      }
      hash = buf[0]!;
      break;
    }
    default:
      return -1;
  }
  hash = (hash & ~1) >>> 0;
  if (hash === 0xfffffffe) hash = 0xfffffffc;
  return hash;
}
