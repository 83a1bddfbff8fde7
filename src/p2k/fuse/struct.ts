/**
 * Table-driven binary structures for the FUSE wire protocol: a structure is
 * declared once as a list of (name, width) rows in the order linux/fuse.h
 * gives them, and decode/encode are derived from that list. All FUSE
 * structures are little-endian on the hosts we run on (x86-64, arm64) and
 * naturally aligned, so offsets follow from the widths.
 */

export type FieldType = 'u16' | 'u32' | 'i32' | 'u64' | 'i64' | 'u64n' | 'pad32';

/** Widths in bytes. `u64n` is a u64 decoded as a bigint (request ids, lock owners: opaque 64-bit values). */
const WIDTH: Record<FieldType, number> = { u16: 2, u32: 4, i32: 4, u64: 8, i64: 8, u64n: 8, pad32: 4 };

export type Row = readonly [name: string, type: FieldType];

type ValueOf<T extends FieldType> = T extends 'u64n' ? bigint : number;
type Fields<R extends readonly Row[]> = { -readonly [K in R[number] as K[1] extends 'pad32' ? never : K[0]]: ValueOf<K[1]> };

export interface Struct<R extends readonly Row[]> {
  readonly name: string;
  readonly size: number;
  readonly rows: R;
  /** Byte offset of each field, by name. */
  readonly offsets: ReadonlyMap<string, number>;
  /** Decodes from `dv` at `off`. The caller has checked that `size` bytes are there. */
  decode(dv: DataView, off: number): Fields<R>;
  /** Encodes `v` into `dv` at `off` (missing fields are written as 0). */
  encode(dv: DataView, off: number, v: Partial<Fields<R>>): void;
}

/**
 * Declares a structure. u64 values decode to a JS number: sizes, offsets and node ids we hand out stay far below
 * 2^53; a larger offset from the kernel decodes inexactly and is rejected by range checks (EFBIG/EINVAL) upstream.
 */
export function struct<const R extends readonly Row[]>(name: string, rows: R): Struct<R> {
  const offs: number[] = [];
  let size = 0;
  for (const [, t] of rows) {
    offs.push(size);
    size += WIDTH[t];
  }
  return {
    name,
    size,
    rows,
    offsets: new Map(rows.map(([n], i) => [n, offs[i]!])),
    decode(dv, off) {
      const o: Record<string, number | bigint> = {};
      for (let i = 0; i < rows.length; i++) {
        const [n, t] = rows[i]!;
        const p = off + offs[i]!;
        switch (t) {
          case 'u16': o[n] = dv.getUint16(p, true); break;
          case 'u32': o[n] = dv.getUint32(p, true); break;
          case 'i32': o[n] = dv.getInt32(p, true); break;
          case 'u64': o[n] = Number(dv.getBigUint64(p, true)); break;
          case 'i64': o[n] = Number(dv.getBigInt64(p, true)); break;
          case 'u64n': o[n] = dv.getBigUint64(p, true); break;
          case 'pad32': break;
        }
      }
      return o as Fields<R>;
    },
    encode(dv, off, v) {
      const src = v as Record<string, number | bigint | undefined>;
      for (let i = 0; i < rows.length; i++) {
        const [n, t] = rows[i]!;
        const p = off + offs[i]!;
        const x = src[n];
        switch (t) {
          case 'u16': dv.setUint16(p, Number(x ?? 0), true); break;
          case 'u32': dv.setUint32(p, Number(x ?? 0) >>> 0, true); break;
          case 'i32': dv.setInt32(p, Number(x ?? 0) | 0, true); break;
          case 'u64': dv.setBigUint64(p, BigInt.asUintN(64, BigInt(Math.trunc(Number(x ?? 0)))), true); break;
          case 'i64': dv.setBigInt64(p, BigInt.asIntN(64, BigInt(Math.trunc(Number(x ?? 0)))), true); break;
          case 'u64n': dv.setBigUint64(p, BigInt.asUintN(64, BigInt(x ?? 0)), true); break;
          case 'pad32': dv.setUint32(p, 0, true); break;
        }
      }
    },
  };
}
