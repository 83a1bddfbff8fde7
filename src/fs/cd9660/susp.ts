/**
 * Reading the System Use area of a directory record: SUSP entries (IEEE P1281)
 * and the Rock Ridge entries carried in them (IEEE P1282). Continuation areas
 * (CE) are followed through a caller-supplied block reader, with a cap on hops
 * and bytes and a visited set, so a looping or endless chain ends in EIO.
 */

import { kerr } from '../../kern/error.js';
import type { Timespec } from '../../vfs/types.js';
import {
  decodeDate17, decodeDate7, NM_CONTINUE, NM_CURRENT, NM_PARENT, RripLink, RripNM, RripPN, RripPX, RripPXIno, RripSL,
  RripTF, RripZF, SECTOR, SLC_CONTINUE, SLC_CURRENT, SLC_PARENT, SLC_ROOT, SuspCE, SuspER, SuspHeader, SuspSP, TF_ACCESS,
  TF_ATTRIBUTES, TF_CREATION, TF_LONG_FORM, TF_MODIFY,
} from './layout.js';

/** Most continuation areas one record may chain through. */
export const MAX_CE_HOPS = 32;
/** Most System Use bytes (record plus continuations) examined for one record. */
export const MAX_SUSP_BYTES = 64 * 1024;
/** Longest name (bytes) and symlink target we accept (NAME_MAX, PATH_MAX). */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** Extension identifiers that announce Rock Ridge in an ER entry. */
export const RRIP_IDS = new Set(['RRIP_1991A', 'IEEE_P1282', 'IEEE_1282']);

export interface RockRidge {
  /** NM, assembled across continued entries; undefined when absent. */
  name?: string;
  /** NM flagged "current"/"parent" or otherwise unusable on a normal entry. */
  nameSpecial?: boolean;
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  ino?: number;
  /** PN as a Linux-encoded device number. */
  rdev?: number;
  symlink?: string;
  birthtime?: Timespec;
  mtime?: Timespec;
  atime?: Timespec;
  ctime?: Timespec;
  /** CL: the relocated directory's extent. */
  childLink?: number;
  /** PL: the original parent's extent. */
  parentLink?: number;
  /** RE: this record is the relocated copy of a directory (hidden from the tree). */
  relocated?: boolean;
  /** SP seen (only meaningful in the root's "." record). */
  spSkip?: number;
  /** ER extension identifiers (root "." record). */
  extensions?: string[];
  /** ZF: zisofs-compressed data (algorithm, block size, real size). */
  zisofs?: { algorithm: string; blockLog2: number; size: number };
  /** Whether any RRIP entry was seen. */
  any: boolean;
}

/** Reads one logical block (2048 bytes) of the volume; used for CE areas. */
export type BlockReader = (block: number) => Promise<Uint8Array>;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Linux's new_encode_dev: minor's low byte, major, then minor's high bits. */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/**
 * Parses the SUSP entries of `area` (the record's System Use area after LEN_SKP)
 * and its continuation areas. `volumeBlocks` bounds CE block numbers.
 */
export async function parseSystemUse(area: Uint8Array, readBlock: BlockReader, volumeBlocks: number, where: string): Promise<RockRidge> {
  const rr: RockRidge = { any: false };
  const nameParts: Uint8Array[] = [];
  let nameLen = 0;
  let nameOpen = true;
  const sl: string[] = [];
  let slLen = 0;
  let slPendingSep = false;
  let slOpen = true;
  let slSeen = false;
  const visited = new Set<number>();
  let total = 0;
  let cur: Uint8Array | null = area;
  let hops = 0;

  while (cur !== null) {
    total += cur.length;
    if (total > MAX_SUSP_BYTES) throw kerr('EIO', `cd9660: ${where}: system use area exceeds ${MAX_SUSP_BYTES} bytes`);
    let next: { block: number; offset: number; length: number } | null = null;
    let pos = 0;
    while (pos + 4 <= cur.length) {
      const h = SuspHeader.decode(cur, pos);
      if (h.length < 4 || pos + h.length > cur.length) break; // padding or a torn entry: the area ends here
      const e = cur.subarray(pos, pos + h.length);
      pos += h.length;
      switch (h.sig) {
        case 'ST':
          pos = cur.length;
          break;
        case 'CE':
          if (e.length >= SuspCE.size) next = SuspCE.decode(e);
          break;
        case 'SP':
          if (e.length >= SuspSP.size) {
            const sp = SuspSP.decode(e);
            if (sp.check1 === 0xbe && sp.check2 === 0xef) rr.spSkip = sp.skip;
          }
          break;
        case 'ER':
          if (e.length >= SuspER.size) {
            const er = SuspER.decode(e);
            const id = String.fromCharCode(...e.subarray(8, Math.min(e.length, 8 + er.idLength)));
            (rr.extensions ??= []).push(id);
          }
          break;
        case 'RR':
          rr.any = true;
          break;
        case 'PX':
          if (e.length >= RripPX.size) {
            const px = RripPX.decode(e);
            rr.mode = px.mode; rr.nlink = px.nlink; rr.uid = px.uid; rr.gid = px.gid;
            if (e.length >= RripPXIno.size) rr.ino = RripPXIno.decode(e).ino;
            rr.any = true;
          }
          break;
        case 'PN':
          if (e.length >= RripPN.size) {
            const pn = RripPN.decode(e);
            // As Linux: a 32-bit dev_t recorded whole in the low word, else major/minor in high/low.
            rr.rdev = pn.high === 0 && (pn.low & ~0xff) !== 0 ? encodeDev(pn.low >>> 8, pn.low & 0xff) : encodeDev(pn.high, pn.low);
            rr.any = true;
          }
          break;
        case 'NM': {
          if (e.length < RripNM.size) break;
          rr.any = true;
          const f = RripNM.decode(e).flags;
          if (f & (NM_CURRENT | NM_PARENT)) { rr.nameSpecial = true; break; }
          if (!nameOpen) break;
          const part = e.subarray(5);
          nameLen += part.length;
          if (nameLen > NAME_MAX) throw kerr('EIO', `cd9660: ${where}: Rock Ridge name longer than ${NAME_MAX} bytes`);
          nameParts.push(part);
          if (!(f & NM_CONTINUE)) nameOpen = false;
          break;
        }
        case 'SL': {
          if (e.length < RripSL.size || !slOpen) break;
          rr.any = true;
          slSeen = true;
          let p = 5;
          while (p + 2 <= e.length) {
            const cf = e[p]!, cl = e[p + 1]!;
            if (p + 2 + cl > e.length) throw kerr('EIO', `cd9660: ${where}: SL component overruns its entry`);
            const text = e.subarray(p + 2, p + 2 + cl);
            p += 2 + cl;
            let piece = '';
            if (slPendingSep) piece += '/';
            slPendingSep = false;
            if (cf & SLC_ROOT) piece += '/';
            else if (cf & SLC_CURRENT) { piece += '.'; slPendingSep = true; }
            else if (cf & SLC_PARENT) { piece += '..'; slPendingSep = true; }
            else { piece += utf8.decode(text); slPendingSep = !(cf & SLC_CONTINUE); }
            slLen += piece.length;
            if (slLen > PATH_MAX) throw kerr('EIO', `cd9660: ${where}: symbolic link target longer than ${PATH_MAX}`);
            sl.push(piece);
          }
          if (!(RripSL.decode(e).flags & 0x01)) slOpen = false;
          break;
        }
        case 'TF': {
          if (e.length < RripTF.size) break;
          rr.any = true;
          const f = RripTF.decode(e).flags;
          const w = f & TF_LONG_FORM ? 17 : 7;
          let p = 5;
          const take = (): Timespec | undefined => {
            if (p + w > e.length) return undefined;
            const t = w === 17 ? decodeDate17(e, p) : decodeDate7(e, p);
            p += w;
            return t;
          };
          // §4.1.6: recorded in the order creation, modify, access, attributes, backup, expiration, effective.
          if (f & TF_CREATION) rr.birthtime = take();
          if (f & TF_MODIFY) rr.mtime = take();
          if (f & TF_ACCESS) rr.atime = take();
          if (f & TF_ATTRIBUTES) rr.ctime = take();
          break;
        }
        case 'CL':
          if (e.length >= RripLink.size) { rr.childLink = RripLink.decode(e).location; rr.any = true; }
          break;
        case 'PL':
          if (e.length >= RripLink.size) { rr.parentLink = RripLink.decode(e).location; rr.any = true; }
          break;
        case 'ZF':
          if (e.length >= RripZF.size) {
            const zf = RripZF.decode(e);
            rr.zisofs = { algorithm: zf.algorithm, blockLog2: zf.blockLog2, size: zf.size };
          }
          break;
        case 'RE':
          rr.relocated = true;
          rr.any = true;
          break;
        default:
          break; // PD, ES, SF, AA, AL ...: not ours to interpret
      }
    }
    cur = null;
    if (next !== null) {
      if (++hops > MAX_CE_HOPS) throw kerr('EIO', `cd9660: ${where}: more than ${MAX_CE_HOPS} continuation areas`);
      const { block, offset, length } = next;
      if (block >= volumeBlocks || offset >= SECTOR || offset + length > SECTOR) {
        throw kerr('EIO', `cd9660: ${where}: continuation area block ${block} offset ${offset} length ${length} out of range`);
      }
      const id = block * SECTOR + offset;
      if (visited.has(id)) throw kerr('EIO', `cd9660: ${where}: continuation areas form a loop at block ${block}`);
      visited.add(id);
      const data = await readBlock(block);
      cur = data.subarray(offset, offset + length);
    }
  }
  if (nameParts.length > 0) {
    const bytes = new Uint8Array(nameLen);
    let o = 0;
    for (const p of nameParts) { bytes.set(p, o); o += p.length; }
    rr.name = utf8.decode(bytes);
  }
  if (slSeen) rr.symlink = sl.join('');
  return rr;
}
