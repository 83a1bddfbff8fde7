/**
 * Finding the volume: the volume descriptor set (ECMA-119 §6.7, §8) of the
 * last session on the device, its primary and Joliet supplementary
 * descriptors, and a cross-check of the path tables (§9.4) against the root.
 */

import { kerr } from '../../kern/error.js';
import type { BlockDevice } from '../../dev/blockdev.js';
import {
  DirectoryRecord, PathTableRecordL, PathTableRecordM, SECTOR, VD_PRIMARY, VD_START, VD_SUPPLEMENTARY, VD_TERMINATOR,
  VolumeDescriptor, VolumeDescriptorHeader,
} from './layout.js';

/** Most descriptors in one set we read before giving up on finding the terminator. */
const MAX_DESCRIPTORS = 64;
/** Most sessions followed. */
const MAX_SESSIONS = 99;
/**
 * How far past a session's end the next session's descriptors may start, in
 * blocks: the 150-block pre-gap plus a lead-out/lead-in of up to 11400 blocks
 * as `cdrecord -msinfo` leaves between sessions, rounded up.
 */
const SESSION_SCAN_BLOCKS = 12_000;
/** Most candidate descriptor sets read while looking for one further session. */
const MAX_CANDIDATES = 16;
/** Largest path table we read to cross-check. */
const MAX_PATH_TABLE = 4 * 1024 * 1024;

export type Descriptor = ReturnType<typeof VolumeDescriptor.decode>;

export interface Volume {
  /** Block where this session's descriptor set starts (minus 16). */
  sessionStart: number;
  pvd: Descriptor;
  /** The Joliet SVD, if any, and its UCS-2 level. */
  joliet?: Descriptor;
  jolietLevel?: number;
  /** Root directory of each namespace: extent and size. */
  root: { extent: number; size: number };
  jolietRoot?: { extent: number; size: number };
  sessions: number;
}

/** Joliet escape sequences (§8.5.6 via the Joliet specification): %/@, %/C, %/E for UCS-2 levels 1, 2, 3. */
function jolietLevel(esc: Uint8Array): number {
  for (let i = 0; i + 3 <= esc.length; i++) {
    if (esc[i] === 0x25 && esc[i + 1] === 0x2f) {
      const c = esc[i + 2];
      if (c === 0x40) return 1;
      if (c === 0x43) return 2;
      if (c === 0x45) return 3;
    }
  }
  return 0;
}

async function readBlocks(dev: BlockDevice, block: number, count: number): Promise<Uint8Array> {
  const buf = new Uint8Array(count * SECTOR);
  await dev.read(buf, block * SECTOR);
  return buf;
}

function isDescriptor(b: Uint8Array, off: number): boolean {
  return b[off + 1] === 0x43 && b[off + 2] === 0x44 && b[off + 3] === 0x30 && b[off + 4] === 0x30 && b[off + 5] === 0x31 && b[off + 6] === 1;
}

/** A primary descriptor at block `at` that could start a later session: sane block size, root after it. */
function plausible(b: Uint8Array, at: number, devBlocks: number): boolean {
  try {
    const d = VolumeDescriptor.decode(b);
    const root = DirectoryRecord.decode(d.rootRecord);
    return d.logicalBlockSize === SECTOR && root.extent > at && root.extent < devBlocks;
  } catch {
    return false;
  }
}

/** Reads the descriptor set starting at block `at`; null when there is no ISO 9660 set there. */
async function readSet(dev: BlockDevice, at: number): Promise<Omit<Volume, 'sessions' | 'sessionStart'> | null> {
  let pvd: Descriptor | undefined;
  let joliet: Descriptor | undefined;
  let level = 0;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const blk = at + i;
    if ((blk + 1) * SECTOR > dev.size) break;
    const b = await readBlocks(dev, blk, 1);
    if (!isDescriptor(b, 0)) return pvd ? finish() : null;
    const h = VolumeDescriptorHeader.decode(b);
    if (h.type === VD_TERMINATOR) break;
    if (h.type === VD_PRIMARY && !pvd) pvd = VolumeDescriptor.decode(b);
    else if (h.type === VD_SUPPLEMENTARY && !joliet) {
      const lv = jolietLevel(b.subarray(88, 120));
      if (lv > 0) {
        joliet = VolumeDescriptor.decode(b);
        level = lv;
      }
    }
  }
  return pvd ? finish() : null;

  function finish(): Omit<Volume, 'sessions' | 'sessionStart'> {
    const p = pvd!;
    if (p.logicalBlockSize !== SECTOR) throw kerr('EIO', `cd9660: primary volume descriptor: logical block size ${p.logicalBlockSize} (only 2048 is supported)`);
    const r = DirectoryRecord.decode(p.rootRecord);
    const out: Omit<Volume, 'sessions' | 'sessionStart'> = { pvd: p, root: { extent: r.extent, size: r.dataLength } };
    if (joliet) {
      try {
        if (joliet.logicalBlockSize !== SECTOR) throw kerr('EIO', 'cd9660: Joliet descriptor: bad logical block size');
        const jr = DirectoryRecord.decode(joliet.rootRecord);
        out.joliet = joliet;
        out.jolietLevel = level;
        out.jolietRoot = { extent: jr.extent, size: jr.dataLength };
      } catch {
        // A damaged Joliet descriptor leaves the primary namespace usable.
      }
    }
    return out;
  }
}

/**
 * The volume of the last session: starting from the set at block 16, look for
 * a further set past each session's end (an appended session records its
 * total size, counted from block 0, in its own PVD).
 */
export async function findVolume(dev: BlockDevice): Promise<Volume | null> {
  const first = await readSet(dev, VD_START);
  if (!first) return null;
  let vol: Volume = { ...first, sessionStart: 0, sessions: 1 };
  while (vol.sessions < MAX_SESSIONS) {
    // mkisofs -C records the new session's size counted from its own start, xorriso counts from block 0:
    // look past both ends.
    const size = vol.pvd.volumeSpaceSize;
    const ends = [...new Set([size, vol.sessionStart + size])];
    const devBlocks = Math.floor(dev.size / SECTOR);
    let found: Volume | null = null;
    for (const end of ends) {
      if (found) break;
      const scanFrom = end + VD_START;
      const scanTo = Math.min(devBlocks, scanFrom + SESSION_SCAN_BLOCKS);
      const CHUNK = 256;
      let attempts = 0;
      for (let blk = scanFrom; blk < scanTo && !found; blk += CHUNK) {
        const n = Math.min(CHUNK, scanTo - blk);
        const b = await readBlocks(dev, blk, n);
        for (let i = 0; i < n; i++) {
          if (b[i * SECTOR] !== VD_PRIMARY || !isDescriptor(b, i * SECTOR)) continue;
          const start = blk + i - VD_START;
          // Judge the candidate from the bytes at hand; only a plausible one costs a read of its set,
          // and only a few per window (a window full of fake descriptors must not multiply the reads).
          if (!plausible(b.subarray(i * SECTOR, (i + 1) * SECTOR), blk + i, devBlocks) || ++attempts > MAX_CANDIDATES) continue;
          let set: Omit<Volume, 'sessions' | 'sessionStart'> | null = null;
          try {
            set = await readSet(dev, blk + i);
          } catch {
            set = null;
          }
          // A session's tree lies after its own descriptors (addresses are absolute on the disc).
          if (set && start > vol.sessionStart && set.root.extent > blk + i && set.root.extent < devBlocks) {
            found = { ...set, sessionStart: start, sessions: vol.sessions + 1 };
            break;
          }
        }
      }
    }
    if (!found) break;
    vol = found;
  }
  return vol;
}

/**
 * Cross-checks the L and M path tables (§9.4): same records in both byte
 * orders, record 1 is the root directory, every parent number points at an
 * earlier record. Returns a problem description, or null when they agree.
 */
export async function checkPathTables(dev: BlockDevice, pvd: Descriptor, rootExtent: number): Promise<string | null> {
  const size = pvd.pathTableSize;
  if (size === 0) return 'path table is empty';
  if (size > MAX_PATH_TABLE) return `path table of ${size} bytes not checked (over ${MAX_PATH_TABLE})`;
  const blocks = Math.ceil(size / SECTOR);
  const vblocks = Math.floor(dev.size / SECTOR);
  if (pvd.lPathTable + blocks > vblocks || pvd.mPathTable + blocks > vblocks) return 'path table lies outside the device';
  const l = (await readBlocks(dev, pvd.lPathTable, blocks)).subarray(0, size);
  const m = (await readBlocks(dev, pvd.mPathTable, blocks)).subarray(0, size);
  let pos = 0;
  let n = 0;
  while (pos + 8 <= size) {
    const a = PathTableRecordL.decode(l, pos);
    const b = PathTableRecordM.decode(m, pos);
    if (a.nameLength === 0) return `path table record ${n + 1}: empty identifier`;
    n++;
    if (a.nameLength !== b.nameLength || a.extent !== b.extent || a.parent !== b.parent) {
      return `path table record ${n}: L and M tables disagree`;
    }
    if (n === 1 && a.extent !== rootExtent) return `path table record 1 names block ${a.extent}, the root directory is at ${rootExtent}`;
    if (a.parent < 1 || a.parent > n) return `path table record ${n}: parent ${a.parent} is not an earlier record`;
    pos += 8 + a.nameLength + (a.nameLength & 1);
  }
  return null;
}
