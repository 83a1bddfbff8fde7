/**
 * jbd2 journal recovery [include/linux/jbd2.h; "Journal (jbd2)", DL §3.6]:
 * finds the committed transactions in the log, applies revoke records, and
 * yields the final contents of every journalled block. A read-only mount
 * lays them over the device in memory (OverlayDevice: the image is never
 * written); a read-write mount writes them home and marks the journal empty.
 */

import type { BlockDevice } from '../../dev/blockdev.js';
import { kerr } from '../../kern/error.js';
import { crc32c } from './crc.js';
import type { Ext2Fs } from './fs.js';
import { JBD_HDR, JBD_INCOMPAT, JBD_MAGIC, JBD_REVOKE, JBD_SB, JBD_TAG, JBD_TAG3 } from './layout.js';

const BT_DESCRIPTOR = 1, BT_COMMIT = 2, BT_SB_V1 = 3, BT_SB_V2 = 4, BT_REVOKE = 5;
const TAG_ESCAPE = 1, TAG_SAME_UUID = 2, TAG_LAST = 8;
/** Replayed blocks are held in memory (the overlay of a read-only mount): a cap on what a hostile journal can ask for. */
const MAX_REPLAY_BYTES = 256 * 1024 * 1024;

export interface Recovery {
  /** Final contents of each replayed block, by file-system block number. */
  blocks: Map<number, Uint8Array>;
  /** Transaction id the journal should expect next once emptied. */
  nextSequence: number;
  /** The journal superblock (logical block 0 of the journal) as read. */
  jsbBlock: Uint8Array;
  /** Device block holding the journal superblock. */
  jsbPblk: number;
  transactions: number;
}

/** Reads the journal and computes the replay; null when the journal is clean. */
export async function recoverJournal(fs: Ext2Fs): Promise<Recovery | null> {
  const jino = fs.sb.journalInum;
  if (fs.sb.journalDev !== 0 || jino === 0) throw kerr('EFTYPE', 'ext2fs: external journal needs recovery: not supported');
  const jip = await fs.readInode(jino);
  const bs = fs.bs;
  const jblocks = Math.floor(jip.size / bs);
  const pmap = async (lblk: number): Promise<number> => {
    const m = await fs.map(jip, lblk, 1);
    if (!m.pblk) throw kerr('EFTYPE', `ext2fs: journal block ${lblk} is a hole`);
    return m.pblk;
  };
  const read = async (lblk: number): Promise<Uint8Array> => {
    const b = new Uint8Array(bs);
    await fs.dev.read(b, (await pmap(lblk)) * bs);
    return b;
  };
  const jsbPblk = await pmap(0);
  const jsbBlock = await read(0);
  const dv0 = new DataView(jsbBlock.buffer);
  const hdr = JBD_HDR.decode(dv0);
  if (hdr.magic !== JBD_MAGIC || (hdr.blocktype !== BT_SB_V1 && hdr.blocktype !== BT_SB_V2)) {
    throw kerr('EFTYPE', `ext2fs: journal superblock magic 0x${hdr.magic.toString(16)} type ${hdr.blocktype}`);
  }
  const jsb = JBD_SB.decode(dv0);
  if (jsb.start === 0) return null;
  const incompat = hdr.blocktype === BT_SB_V2 ? jsb.featureIncompat : 0;
  if (jsb.blocksize !== bs || jsb.maxlen > jblocks || jsb.first < 1 || jsb.first >= jsb.maxlen || jsb.start < jsb.first || jsb.start >= jsb.maxlen) {
    throw kerr('EFTYPE', `ext2fs: journal superblock geometry (block size ${jsb.blocksize}, first ${jsb.first}, start ${jsb.start}, length ${jsb.maxlen})`);
  }
  const csum3 = (incompat & JBD_INCOMPAT.CSUM_V3) !== 0;
  const csum2 = (incompat & JBD_INCOMPAT.CSUM_V2) !== 0;
  const is64 = (incompat & JBD_INCOMPAT.BIT64) !== 0;
  const tagBytes = csum3 ? 16 : 12 + (csum2 ? 2 : 0) - (is64 ? 0 : 4);
  const tailBytes = csum2 || csum3 ? 4 : 0;
  const logEnd = incompat & JBD_INCOMPAT.FAST_COMMIT ? jsb.maxlen - (jsb.numFcBlocks || 256) : jsb.maxlen;
  if (logEnd <= jsb.first) throw kerr('EFTYPE', 'ext2fs: journal has no log area');
  const wrap = (b: number): number => (b >= logEnd ? b - logEnd + jsb.first : b);
  const csum = csum2 || csum3;
  const jseed = crc32c(0xffffffff, jsb.uuid);
  /** Descriptor and revoke blocks end in a crc32c tail; commit blocks keep theirs at h_chksum[0] (offset 16). */
  const blockCsumOk = (type: number, d: Uint8Array): boolean => {
    const at = type === BT_COMMIT ? 16 : bs - 4;
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    const have = dv.getUint32(at, false);
    const copy = d.slice();
    new DataView(copy.buffer).setUint32(at, 0, false);
    return crc32c(jseed, copy) === have;
  };
  /** Data block checksum of a tag: crc32c over the big-endian sequence, then the block (v2 keeps the low 16 bits). */
  const tagCsumOk = (seq: number, data: Uint8Array, have: number): boolean => {
    const sb = new Uint8Array(4);
    new DataView(sb.buffer).setUint32(0, seq, false);
    const c = crc32c(crc32c(jseed, sb), data);
    return csum3 ? c === have : (c & 0xffff) === have;
  };

  interface Tag { blocknr: number; flags: number; checksum: number; }
  const tagsOf = (d: Uint8Array): Tag[] => {
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    const tags: Tag[] = [];
    let p = 12;
    const end = bs - tailBytes;
    while (p + tagBytes <= end) {
      let blocknr: number, flags: number, checksum: number;
      if (csum3) {
        const t = JBD_TAG3.decode(dv, p);
        blocknr = t.blocknr + (is64 ? t.blocknrHigh * 0x100000000 : 0);
        flags = t.flags;
        checksum = t.checksum;
      } else {
        const t = JBD_TAG.decode(dv, p);
        blocknr = t.blocknr + (is64 ? t.blocknrHigh * 0x100000000 : 0);
        flags = t.flags;
        checksum = t.checksum;
      }
      tags.push({ blocknr, flags, checksum });
      p += tagBytes;
      if (!(flags & TAG_SAME_UUID)) p += 16;
      if (flags & TAG_LAST) break;
    }
    return tags;
  };

  // One walk over the log, as jbd2's do_one_pass, for each of the three passes.
  const walk = async (pass: 'scan' | 'revoke' | 'replay', endSeq: number, visit: (seq: number, kind: number, d: Uint8Array, blk: number) => Promise<number | void>): Promise<number> => {
    let seq = jsb.sequence;
    let blk = jsb.start;
    for (let steps = 0; steps < 2 * jsb.maxlen; steps++) {
      if (pass !== 'scan' && seq >= endSeq) break;
      const d = await read(blk);
      const h = JBD_HDR.decode(new DataView(d.buffer));
      if (h.magic !== JBD_MAGIC || h.sequence !== seq) break;
      // With v2/v3 checksums a block that fails its checksum ends the log, as in jbd2's scan pass.
      if (csum && (h.blocktype === BT_DESCRIPTOR || h.blocktype === BT_REVOKE || h.blocktype === BT_COMMIT) && !blockCsumOk(h.blocktype, d)) {
        fs.k.log(`ext2fs: journal: ${h.blocktype === BT_COMMIT ? 'commit' : h.blocktype === BT_REVOKE ? 'revoke' : 'descriptor'} block ${blk} of transaction ${seq} fails its checksum; log ends there`);
        break;
      }
      if (h.blocktype === BT_DESCRIPTOR) {
        const n = tagsOf(d).length;
        await visit(seq, BT_DESCRIPTOR, d, blk);
        blk = wrap(blk + 1 + n);
        continue;
      }
      if (h.blocktype === BT_COMMIT) {
        seq = (seq + 1) >>> 0;
        blk = wrap(blk + 1);
        continue;
      }
      if (h.blocktype === BT_REVOKE) {
        await visit(seq, BT_REVOKE, d, blk);
        blk = wrap(blk + 1);
        continue;
      }
      break;
    }
    return seq;
  };

  const endSeq = await walk('scan', 0, async () => undefined);
  const revoked = new Map<number, number>();
  await walk('revoke', endSeq, async (seq, kind, d) => {
    if (kind !== BT_REVOKE) return;
    const dv = new DataView(d.buffer);
    const count = Math.min(JBD_REVOKE.decode(dv).count, bs - tailBytes);
    const rec = is64 ? 8 : 4;
    for (let p = 16; p + rec <= count; p += rec) {
      const b = is64 ? dv.getUint32(p, false) * 0x100000000 + dv.getUint32(p + 4, false) : dv.getUint32(p, false);
      if ((revoked.get(b) ?? -1) < seq) revoked.set(b, seq);
    }
  });
  const blocks = new Map<number, Uint8Array>();
  let transactions = 0;
  let lastSeq = -1;
  await walk('replay', endSeq, async (seq, kind, d, blk) => {
    if (kind !== BT_DESCRIPTOR) return;
    if (seq !== lastSeq) { transactions++; lastSeq = seq; }
    let at = blk;
    for (const t of tagsOf(d)) {
      at = wrap(at + 1);
      const r = revoked.get(t.blocknr);
      if (r !== undefined && r >= seq) continue;
      if (t.blocknr >= fs.blocksCount) {
        fs.k.log(`ext2fs: journal: transaction ${seq} names block ${t.blocknr} outside the file system; skipped`);
        continue;
      }
      if (!blocks.has(t.blocknr) && (blocks.size + 1) * bs > MAX_REPLAY_BYTES) {
        throw kerr('EFTYPE', `ext2fs: journal replay needs more than ${MAX_REPLAY_BYTES >> 20} MiB of distinct blocks`);
      }
      const data = await read(at);
      if (csum && !tagCsumOk(seq, data, t.checksum)) {
        fs.k.log(`ext2fs: journal: transaction ${seq}: block ${t.blocknr} fails its checksum; not replayed`);
        continue;
      }
      if (t.flags & TAG_ESCAPE) new DataView(data.buffer).setUint32(0, JBD_MAGIC, false);
      blocks.set(t.blocknr, data);
    }
  });
  return { blocks, nextSequence: endSeq, jsbBlock, jsbPblk, transactions };
}

/** Marks the journal empty after its blocks went home (read-write recovery). */
export async function resetJournal(fs: Ext2Fs, r: Recovery): Promise<void> {
  const d = r.jsbBlock;
  const dv = new DataView(d.buffer);
  JBD_SB.encode({ start: 0, sequence: r.nextSequence }, dv);
  const h = JBD_HDR.decode(dv);
  const incompat = h.blocktype === BT_SB_V2 ? JBD_SB.decode(dv).featureIncompat : 0;
  if (incompat & (JBD_INCOMPAT.CSUM_V2 | JBD_INCOMPAT.CSUM_V3)) {
    dv.setUint32(JBD_SB.f.checksum.off, 0, false);
    dv.setUint32(JBD_SB.f.checksum.off, crc32c(0xffffffff, d, 0, 1024), false);
  }
  await fs.dev.write(d, r.jsbPblk * fs.bs);
}

/** A device with some blocks replaced in memory: reads see the replayed journal, the device is never written. */
export class OverlayDevice implements BlockDevice {
  private readonly keys: number[];

  constructor(
    private readonly dev: BlockDevice,
    private readonly blocks: Map<number, Uint8Array>,
    private readonly bs: number,
  ) {
    this.keys = [...blocks.keys()].sort((a, b) => a - b);
  }

  get name(): string { return this.dev.name; }
  get sectorSize(): number { return this.dev.sectorSize; }
  get size(): number { return this.dev.size; }
  readonly readonly = true;

  async read(buf: Uint8Array, offset: number): Promise<void> {
    await this.dev.read(buf, offset);
    const first = Math.floor(offset / this.bs);
    const last = Math.floor((offset + buf.length - 1) / this.bs);
    let lo = 0, hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keys[mid]! < first) lo = mid + 1; else hi = mid;
    }
    for (let i = lo; i < this.keys.length && this.keys[i]! <= last; i++) {
      const b = this.keys[i]!;
      const data = this.blocks.get(b)!;
      const bstart = b * this.bs;
      const from = Math.max(bstart, offset);
      const to = Math.min(bstart + this.bs, offset + buf.length);
      buf.set(data.subarray(from - bstart, to - bstart), from - offset);
    }
  }

  async write(): Promise<void> {
    throw kerr('EROFS', `${this.dev.name}: read-only (journal replayed in memory)`);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
