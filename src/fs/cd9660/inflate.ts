/**
 * A small inflater (RFC 1951 DEFLATE inside an RFC 1950 zlib wrapper) for
 * zisofs blocks: drivers may not use the host's zlib, and the input is hostile,
 * so output is bounded by the caller's buffer, every code table is checked for
 * over-subscription, and any malformed stream is EIO.
 */

import { kerr } from '../../kern/error.js';

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** §3.2.7: the order in which code-length code lengths are sent. */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

function bad(why: string): never {
  throw kerr('EIO', `cd9660: zisofs: ${why}`);
}

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

function huffman(lengths: Uint8Array | number[], n: number): Huffman {
  const count = new Uint16Array(16);
  for (let i = 0; i < n; i++) count[lengths[i]!]!++;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) bad('over-subscribed Huffman code');
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + count[len]!;
  const symbol = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbol[offs[lengths[i]!]!++] = i;
  return { count, symbol };
}

class Bits {
  pos: number;
  private buf = 0;
  private cnt = 0;
  constructor(private readonly src: Uint8Array, start: number) {
    this.pos = start;
  }
  need(n: number): number {
    let v = this.buf;
    while (this.cnt < n) {
      if (this.pos >= this.src.length) bad('stream ends early');
      v |= this.src[this.pos++]! << this.cnt;
      this.cnt += 8;
    }
    this.buf = v >>> n;
    this.cnt -= n;
    return v & ((1 << n) - 1);
  }
  align(): void {
    this.buf = 0;
    this.cnt = 0;
  }
  decode(h: Huffman): number {
    let code = 0, first = 0, index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.need(1);
      const c = h.count[len]!;
      if (code - c < first) return h.symbol[index + (code - first)]!;
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    return bad('invalid Huffman code');
  }
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;

function fixedCodes(): [Huffman, Huffman] {
  if (!fixedLit || !fixedDist) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = huffman(l, 288);
    fixedDist = huffman(new Uint8Array(30).fill(5), 30);
  }
  return [fixedLit, fixedDist];
}

function dynamicCodes(b: Bits): [Huffman, Huffman] {
  const nlen = b.need(5) + 257, ndist = b.need(5) + 1, ncode = b.need(4) + 4;
  if (nlen > 286 || ndist > 30) bad('bad code counts');
  const cl = new Uint8Array(19);
  for (let i = 0; i < ncode; i++) cl[CLEN_ORDER[i]!] = b.need(3);
  const clh = huffman(cl, 19);
  const lengths = new Uint8Array(nlen + ndist);
  for (let i = 0; i < nlen + ndist; ) {
    const sym = b.decode(clh);
    if (sym < 16) { lengths[i++] = sym; continue; }
    let rep: number, val = 0;
    if (sym === 16) {
      if (i === 0) bad('repeat with no previous length');
      val = lengths[i - 1]!;
      rep = 3 + b.need(2);
    } else if (sym === 17) rep = 3 + b.need(3);
    else rep = 11 + b.need(7);
    if (i + rep > nlen + ndist) bad('too many lengths');
    lengths.fill(val, i, i + rep);
    i += rep;
  }
  if (lengths[256] === 0) bad('no end-of-block code');
  return [huffman(lengths.subarray(0, nlen), nlen), huffman(lengths.subarray(nlen), ndist)];
}

/**
 * Inflates the zlib stream `src` into `out`; returns the bytes produced. EIO when the stream is
 * malformed, its checksum is wrong, or it would produce more than `out.length` bytes.
 */
export function zlibInflate(src: Uint8Array, out: Uint8Array): number {
  if (src.length < 6) bad('stream too short');
  const cmf = src[0]!, flg = src[1]!;
  if ((cmf & 0x0f) !== 8 || (cmf >>> 4) > 7 || ((cmf << 8) | flg) % 31 !== 0 || (flg & 0x20)) bad('bad zlib header');
  const b = new Bits(src, 2);
  let n = 0;
  for (let last = 0; !last; ) {
    last = b.need(1);
    const type = b.need(2);
    if (type === 0) {
      b.align();
      if (b.pos + 4 > src.length) bad('stored block header past the end');
      const len = src[b.pos]! | (src[b.pos + 1]! << 8);
      const nlen = src[b.pos + 2]! | (src[b.pos + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) bad('stored block length check');
      b.pos += 4;
      if (b.pos + len > src.length) bad('stored block past the end');
      if (n + len > out.length) bad('output larger than a block');
      out.set(src.subarray(b.pos, b.pos + len), n);
      n += len;
      b.pos += len;
      continue;
    }
    if (type === 3) bad('reserved block type');
    const [lit, dist] = type === 1 ? fixedCodes() : dynamicCodes(b);
    for (;;) {
      const sym = b.decode(lit);
      if (sym < 256) {
        if (n >= out.length) bad('output larger than a block');
        out[n++] = sym;
      } else if (sym === 256) break;
      else {
        const li = sym - 257;
        if (li >= 29) bad('bad length symbol');
        const len = LEN_BASE[li]! + b.need(LEN_EXTRA[li]!);
        const di = b.decode(dist);
        if (di >= 30) bad('bad distance symbol');
        const d = DIST_BASE[di]! + b.need(DIST_EXTRA[di]!);
        if (d > n) bad('distance before the start');
        if (n + len > out.length) bad('output larger than a block');
        for (let k = 0; k < len; k++, n++) out[n] = out[n - d]!;
      }
    }
  }
  // The Adler-32 of the output, big-endian, after the deflate data (byte-aligned).
  b.align();
  if (b.pos + 4 > src.length) bad('checksum missing');
  let s1 = 1, s2 = 0;
  for (let i = 0; i < n; i++) {
    s1 = (s1 + out[i]!) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  const want = ((src[b.pos]! << 24) | (src[b.pos + 1]! << 16) | (src[b.pos + 2]! << 8) | src[b.pos + 3]!) >>> 0;
  if ((((s2 << 16) | s1) >>> 0) !== want) bad('checksum mismatch');
  return n;
}
