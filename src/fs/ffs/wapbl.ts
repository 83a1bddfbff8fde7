/**
 * Reading NetBSD's WAPBL journal (sys/kern/vfs_wapbl.c replay side): find the
 * log from the superblock, pick the newer of its two commit headers, and when
 * it holds transactions (head != tail) collect the logged blocks, oldest first
 * with later copies and revocations winning, so a read-only mount can see the
 * file system as it would be after replay without writing to the image.
 */

import type { BlockDevice } from '../../vfs/types.js';
import { kerr } from '../../kern/error.js';
import type { FsGeom } from './geom.js';
import {
  WAPBL_WC_HEADER, WAPBL_WC_HEADER_TYPE, WAPBL_WC_BLOCKS, WAPBL_WC_REVOCATIONS, WAPBL_WC_INODES, WAPBL_WC_BLOCKLIST,
  UFS_WAPBL_JOURNALLOC_END_PARTITION, UFS_WAPBL_JOURNALLOC_IN_FILESYSTEM, UFS_WAPBL_VERSION, DEV_BSIZE,
} from './layout.js';

/** Caps on what a hostile log may make us hold. */
const MAX_LOG_BYTES = 64 * 1024 * 1024;
const MAX_RECORDS = 1 << 20;

export interface WapblState {
  pending: boolean;
  /** Replayed contents by device byte offset. */
  blocks: Map<number, Uint8Array>;
}

export async function readWapbl(dev: BlockDevice, g: FsGeom): Promise<WapblState> {
  const sb = g.sb;
  const loc = sb.journal_location;
  if (loc !== UFS_WAPBL_JOURNALLOC_END_PARTITION && loc !== UFS_WAPBL_JOURNALLOC_IN_FILESYSTEM) {
    return { pending: false, blocks: new Map() };
  }
  if (sb.journal_version !== UFS_WAPBL_VERSION) throw kerr('EFTYPE', `ffs: unknown WAPBL journal version ${sb.journal_version}`);
  // journallocs: [0] address in log blocks, [1] count of log blocks, [2] log block size (ufs_wapbl.h;
  // wapbl_replay_start scales the address by the log block size).
  const blksz = sb.journallocs[2]!;
  const count = sb.journallocs[1]!;
  const addr = sb.journallocs[0]! * blksz;
  if (!(blksz >= DEV_BSIZE && blksz <= 65536 && (blksz & (blksz - 1)) === 0)) throw kerr('EFTYPE', `ffs: WAPBL log block size ${blksz}`);
  const logBytes = count * blksz;
  if (!Number.isSafeInteger(addr) || addr < 0 || logBytes <= 0 || logBytes > MAX_LOG_BYTES || addr + logBytes > dev.size) {
    throw kerr('EFTYPE', `ffs: WAPBL log at ${addr} (${logBytes} bytes) outside the device`);
  }
  const log = new Uint8Array(logBytes);
  await dev.read(log, addr);
  // Two commit headers, one log block each; the higher generation is current.
  let hdr: ReturnType<typeof WAPBL_WC_HEADER.decode> | null = null;
  for (let i = 0; i < 2; i++) {
    if ((i + 1) * blksz > logBytes) break;
    const h = WAPBL_WC_HEADER.decode(log, i * blksz, g.le);
    if (h.type !== WAPBL_WC_HEADER_TYPE) continue;
    if (!hdr || h.generation > hdr.generation) hdr = h;
  }
  if (!hdr) throw kerr('EFTYPE', 'ffs: WAPBL log has no commit header');
  // Replay walks from tail to head (wapbl_replay_process): equal means nothing to replay.
  if (hdr.head === hdr.tail) return { pending: false, blocks: new Map() };
  const bsh = hdr.log_dev_bshift;
  const fsh = hdr.fs_dev_bshift;
  if (bsh < 9 || bsh > 16 || fsh < 9 || fsh > 16) throw kerr('EFTYPE', 'ffs: WAPBL header block shifts');
  const lb = 1 << bsh;
  const circOff = hdr.circ_off;
  const circSize = hdr.circ_size;
  if (circOff < 0 || circSize <= 0 || circOff + circSize > logBytes || circSize % lb !== 0) throw kerr('EFTYPE', 'ffs: WAPBL circular area');
  const inCirc = (o: number) => o >= circOff && o < circOff + circSize;
  if (!inCirc(hdr.head) || !inCirc(hdr.tail)) throw kerr('EFTYPE', 'ffs: WAPBL head/tail outside the log');
  // Reads `len` bytes at circular offset `off`, wrapping.
  const circRead = (off: number, len: number): { data: Uint8Array; next: number } => {
    const out = new Uint8Array(len);
    let o = off;
    let done = 0;
    while (done < len) {
      const n = Math.min(len - done, circOff + circSize - o);
      out.set(log.subarray(o, o + n), done);
      done += n;
      o += n;
      if (o >= circOff + circSize) o = circOff;
    }
    return { data: out, next: o };
  };
  const blocks = new Map<number, Uint8Array>();
  let off = hdr.tail;
  let records = 0;
  let consumed = 0;
  const total = hdr.head > hdr.tail ? hdr.head - hdr.tail : circSize - (hdr.tail - hdr.head);
  if (total % lb !== 0) throw kerr('EFTYPE', 'ffs: WAPBL head and tail not on log-block boundaries');
  while (consumed < total) {
    if (++records > MAX_RECORDS) throw kerr('EFTYPE', 'ffs: WAPBL log has too many records');
    const { data: rec0, next: afterHdr } = circRead(off, lb);
    const r = WAPBL_WC_BLOCKLIST.decode(rec0, 0, g.le);
    if (r.len <= 0 || r.len % lb !== 0 || r.len > circSize) throw kerr('EFTYPE', `ffs: WAPBL record at ${off}: length ${r.len}`);
    if (r.type === WAPBL_WC_BLOCKS || r.type === WAPBL_WC_REVOCATIONS) {
      const cnt = r.blkcount;
      if (cnt < 0 || 16 + cnt * 16 > lb) throw kerr('EFTYPE', `ffs: WAPBL record at ${off}: ${cnt} blocks`);
      const dv = new DataView(rec0.buffer);
      let dataOff = afterHdr;
      for (let i = 0; i < cnt; i++) {
        const daddr = Number(dv.getBigInt64(16 + i * 16, g.le));
        const dlen = dv.getInt32(16 + i * 16 + 12, g.le);
        if (dlen < 0 || dlen > 65536 || dlen % (1 << fsh) !== 0 || dlen % DEV_BSIZE !== 0) throw kerr('EFTYPE', `ffs: WAPBL block length ${dlen}`);
        const byteAddr = daddr * DEV_BSIZE;
        if (!Number.isSafeInteger(byteAddr) || byteAddr < 0 || byteAddr + dlen > g.size * g.fsize) {
          throw kerr('EFTYPE', `ffs: WAPBL block address ${daddr} outside the file system`);
        }
        if (r.type === WAPBL_WC_BLOCKS) {
          const { data, next } = circRead(dataOff, dlen);
          dataOff = next;
          for (let s = 0; s < dlen; s += DEV_BSIZE) blocks.set(byteAddr + s, data.subarray(s, s + DEV_BSIZE));
        } else {
          for (let s = 0; s < dlen; s += DEV_BSIZE) blocks.delete(byteAddr + s);
        }
      }
    } else if (r.type !== WAPBL_WC_INODES) {
      throw kerr('EFTYPE', `ffs: WAPBL record at ${off}: type 0x${(r.type >>> 0).toString(16)}`);
    }
    consumed += r.len;
    off = circOff + ((off - circOff + r.len) % circSize);
  }
  return { pending: true, blocks };
}
