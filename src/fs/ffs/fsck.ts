/**
 * The FFS consistency checker (`rump fsck -t ffs -n`): the checks of
 * fsck_ffs's passes, read-only, over an image in memory. Pass 1 scans every
 * inode and claims its blocks (out of range, in metadata, claimed twice,
 * block counts); pass 2 walks the directory tree from the root (entry
 * structure, '.', '..', entries naming free inodes, types); pass 4 compares
 * link counts; pass 5 compares the cylinder-group maps and every summary
 * (cg, summary area, superblock, fragment and cluster counts) with what was
 * found. Returns the problems, one line each; an empty list means clean.
 */

import { findSuperblock, findAlternateSuperblock, type FsGeom } from './geom.js';
import { decodeDinode, type DinodeFields } from './ffs.js';
import { readWapbl } from './wapbl.js';
import { MemoryDevice } from '../../dev/blockdev.js';
import {
  SUPERBLOCK, CG, CG_MAGIC, CSUM, DIRECT, ODIRECT, DIRBLKSIZ, NDADDR, NIADDR, UFS_ROOTINO, FS_ISCLEAN, FS_44INODEFMT, FS_DOWAPBL,
  directSize, DT_DIR, DT_REG, DT_LNK, DT_CHR, DT_BLK, DT_FIFO, DT_SOCK,
} from './layout.js';

const MAX_PROBLEMS = 200;
const DT_OF_IFMT = new Map<number, number>([
  [0o100000, DT_REG], [0o040000, DT_DIR], [0o120000, DT_LNK], [0o020000, DT_CHR], [0o060000, DT_BLK], [0o010000, DT_FIFO], [0o140000, DT_SOCK],
]);
const IFDIR = 0o040000;
const IFLNK = 0o120000;
const IFREG = 0o100000;

export interface FsckOptions {
  /** Report an unclean superblock as a problem (default true). */
  requireClean?: boolean;
}

export async function fsckFfs(bytes: Uint8Array, opts: FsckOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  let more = 0;
  const report = (s: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(s);
    else more++;
  };
  const read = async (off: number, len: number) => (off + len <= bytes.length ? bytes.subarray(off, off + len) : null);
  let found = await findSuperblock(read, bytes.length);
  let usingCopy = false;
  if ('reasons' in found) {
    const reasons = found.reasons;
    const alt = await findAlternateSuperblock(read, bytes.length);
    if (!alt) return [`no usable superblock${reasons.length ? ': ' + reasons.join('; ') : ''}`];
    usingCopy = true;
    report(`primary superblock unusable${reasons.length ? ` (${reasons.join('; ')})` : ''}; checked with the copy at byte ${alt.at}`);
    found = alt;
  }
  const g = found.geom;
  if (g.sb.flags & FS_DOWAPBL) {
    try {
      const log = await readWapbl(new MemoryDevice(bytes, { readonly: true }), g);
      if (log.pending) report(`WAPBL journal holds ${log.blocks.size} logged sectors not yet replayed`);
    } catch (e) {
      report(`WAPBL journal unreadable: ${(e as { detail?: string }).detail ?? String(e)}`);
    }
  }
  try {
    check(bytes, g, report, opts, usingCopy);
  } catch (e) {
    report(`checker stopped: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (more) problems.push(`... and ${more} more problems`);
  return problems;
}

function check(bytes: Uint8Array, g: FsGeom, report: (s: string) => void, opts: FsckOptions, usingCopy: boolean): void {
  const le = g.le;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if ((opts.requireClean ?? true) && g.sb.clean !== FS_ISCLEAN) report(`superblock: clean flag is ${g.sb.clean}, not set`);
  // The copy in the last group must agree on the geometry (fsck_ffs's readsb compares them the same way).
  if (!usingCopy) {
    const at = g.cgsblock(g.ncg - 1) * g.fsize;
    if (at + 1376 <= bytes.length) {
      const alt = SUPERBLOCK.decode(bytes, at, le);
      const fields = ['magic', 'bsize', 'fsize', 'frag', 'ncg', 'fpg', 'ipg', 'sblkno', 'cblkno', 'iblkno', 'dblkno', 'cssize', 'cgsize', 'nindir', 'inopb'] as const;
      const differ = fields.filter((f) => alt[f] !== g.sb[f]);
      if (differ.length > 0) report(`superblock copy in cg ${g.ncg - 1} disagrees on ${differ.join(', ')}`);
    }
  }

  /* ---- cylinder-group headers ---- */
  const cgs: (ReturnType<typeof CG.decode> | null)[] = [];
  for (let c = 0; c < g.ncg; c++) {
    const at = g.cgtod(c) * g.fsize;
    const h = CG.decode(bytes, at, le);
    let bad: string | null = null;
    if (h.magic !== CG_MAGIC) bad = `bad magic 0x${(h.magic >>> 0).toString(16)}`;
    else if (h.cgx !== c) bad = `index ${h.cgx}`;
    else if (h.ndblk !== g.cgfrags(c)) bad = `frag count ${h.ndblk}, expected ${g.cgfrags(c)}`;
    else if (h.iusedoff < CG.size || h.iusedoff + Math.ceil(g.ipg / 8) > g.cgbytes) bad = 'inode map outside the cg';
    else if (h.freeoff < CG.size || h.freeoff + Math.ceil(g.fpg / 8) > g.cgbytes) bad = 'free map outside the cg';
    else if (g.contigsumsize > 0 && (h.clustersumoff < CG.size || h.clustersumoff + 4 * (g.contigsumsize + 1) > g.cgbytes ||
      h.clusteroff < CG.size || h.clusteroff + Math.ceil(g.fpg / g.frag / 8) > g.cgbytes)) bad = 'cluster maps outside the cg';
    else if (g.ufs2 && (h.initediblk < 0 || h.initediblk > g.ipg)) bad = `initialised inodes ${h.initediblk}`;
    else if (g.contigsumsize > 0 && h.nclusterblks !== Math.floor(h.ndblk / g.frag)) bad = `cluster block count ${h.nclusterblks}`;
    if (bad) {
      report(`cg ${c}: ${bad}`);
      cgs.push(null);
    } else cgs.push(h);
  }
  const cgAt = (c: number) => g.cgtod(c) * g.fsize;
  const bit = (c: number, off: number, i: number) => (bytes[cgAt(c) + off + (i >> 3)]! & (1 << (i & 7))) !== 0;

  /* ---- pass 1: inodes and the blocks they claim ---- */
  // owner[frag]: 0 unclaimed, -1 file-system metadata, else the claiming inode.
  const owner = new Int32Array(g.size);
  const claimMeta = (from: number, to: number) => {
    for (let f = Math.max(0, from); f < Math.min(to, g.size); f++) owner[f] = -1;
  };
  claimMeta(0, g.cgsblock(0));
  for (let c = 0; c < g.ncg; c++) claimMeta(g.cgsblock(c), g.cgdmin(c));
  claimMeta(g.csaddr, g.csaddr + g.numfrags(g.cssize));

  const maxino = g.maxino;
  const inodes = new Map<number, DinodeFields>();
  const dupReported = new Set<number>();
  for (let c = 0; c < g.ncg; c++) {
    const h = cgs[c];
    const limit = g.ufs2 && h ? h.initediblk : g.ipg;
    for (let i = 0; i < g.ipg; i++) {
      const ino = c * g.ipg + i;
      if (ino < UFS_ROOTINO) continue;
      let d: DinodeFields | null = null;
      if (i < limit) {
        const at = g.inoToFsba(ino) * g.fsize + g.inoToFsbo(ino) * g.isize;
        // di_mode opens both dinode formats: a free inode is passed over without decoding it.
        const mode = g.le ? bytes[at]! | (bytes[at + 1]! << 8) : (bytes[at]! << 8) | bytes[at + 1]!;
        if (mode !== 0) d = decodeDinode(g, bytes, at);
      }
      const used = h ? bit(c, h.iusedoff, i) : d !== null;
      if (d && !used) report(`inode ${ino}: allocated (mode 0${d.mode.toString(8)}) but free in cg ${c} inode map`);
      if (!d && used) report(`inode ${ino}: marked in use in cg ${c} inode map but not allocated`);
      if (!d) continue;
      const fmt = d.mode & 0o170000;
      if (!DT_OF_IFMT.has(fmt)) {
        report(`inode ${ino}: bad file type 0${fmt.toString(8)}`);
        continue;
      }
      if (d.nlink <= 0) report(`inode ${ino}: link count ${d.nlink} on an allocated inode`);
      if (!Number.isSafeInteger(d.size) || d.size < 0 || d.size > g.maxFileSize) {
        report(`inode ${ino}: bad size ${d.size}`);
        continue;
      }
      inodes.set(ino, d);
      if (fmt === IFDIR && (d.size === 0 || d.size % DIRBLKSIZ !== 0)) report(`inode ${ino}: directory size ${d.size} is not a multiple of ${DIRBLKSIZ}`);
      const shortlink = fmt === IFLNK && (d.size < g.maxsymlinklen || (g.maxsymlinklen === 0 && d.blocks === 0));
      const hasData = fmt === IFREG || fmt === IFDIR || (fmt === IFLNK && !shortlink);
      let frags = 0;
      const claim = (addr: number, n: number, what: string): boolean => {
        if (!Number.isSafeInteger(addr) || addr < 0 || addr + n > g.size) {
          report(`inode ${ino}: ${what} address ${addr} out of range`);
          return false;
        }
        if (Math.floor(addr / g.frag) !== Math.floor((addr + n - 1) / g.frag)) report(`inode ${ino}: ${what} at ${addr} crosses a block boundary`);
        frags += n;
        for (let f = addr; f < addr + n; f++) {
          const o = owner[f]!;
          if (o === 0) owner[f] = ino;
          else if (!dupReported.has(f)) {
            dupReported.add(f);
            report(o === -1 ? `inode ${ino}: ${what} ${f} is file-system metadata` : `frag ${f}: claimed by inodes ${o} and ${ino}`);
          }
        }
        return true;
      };
      if (hasData) {
        const nblocks = Math.ceil(d.size / g.bsize);
        for (let lbn = 0; lbn < NDADDR; lbn++) {
          const a = d.db[lbn]!;
          if (a === 0) continue;
          if (lbn >= nblocks) {
            report(`inode ${ino}: direct block ${lbn} at ${a} beyond end of file`);
            continue;
          }
          claim(a, g.blksize(d.size, lbn) / g.fsize, `block ${lbn}`);
        }
        let base = NDADDR;
        let span = 1;
        for (let level = 1; level <= NIADDR; level++) {
          span *= g.nindir;
          const a = d.ib[level - 1]!;
          if (a !== 0) {
            if (base >= nblocks) report(`inode ${ino}: indirect block (level ${level}) at ${a} beyond end of file`);
            else walkInd(a, level, base, span, nblocks);
          }
          base += span;
        }
      } else if (!shortlink) {
        for (const a of [...d.db, ...d.ib]) if (a !== 0 && fmt !== 0o020000 && fmt !== 0o060000) report(`inode ${ino}: block pointer on a special file`);
      }
      if (g.ufs2 && d.extsize > 0) {
        if (d.extsize > NDADDR * g.bsize) report(`inode ${ino}: extended-attribute size ${d.extsize}`);
        else for (let i2 = 0; i2 < 2; i2++) {
          const a = d.extb[i2]!;
          const left = d.extsize - i2 * g.bsize;
          if (a !== 0 && left > 0) claim(a, g.numfrags(Math.min(g.bsize, left)), `extattr block ${i2}`);
        }
      }
      const expect = (frags * g.fsize) / 512;
      if (d.blocks !== expect) report(`inode ${ino}: block count ${d.blocks}, counted ${expect}`);

      function walkInd(addr: number, level: number, base: number, span: number, nblocks: number): void {
        if (!claim(addr, g.frag, `indirect block (level ${level})`)) return;
        const sub = span / g.nindir;
        const at = addr * g.fsize;
        for (let i2 = 0; i2 < g.nindir; i2++) {
          const p = g.ufs2 ? Number(dv.getBigInt64(at + i2 * 8, le)) : dv.getInt32(at + i2 * 4, le);
          if (p === 0) continue;
          const b = base + i2 * sub;
          if (b >= nblocks) {
            report(`inode ${ino}: block pointer for block ${b} beyond end of file`);
            continue;
          }
          if (level === 1) claim(p, g.frag, `block ${b}`);
          else walkInd(p, level - 1, b, sub, nblocks);
        }
      }
    }
  }

  /* ---- pass 2: the directory tree ---- */
  const refs = new Map<number, number>();
  const addRef = (ino: number) => refs.set(ino, (refs.get(ino) ?? 0) + 1);
  const root = inodes.get(UFS_ROOTINO);
  const reachedDirs = new Set<number>();
  const readFile = (d: DinodeFields, ino: number): Uint8Array | null => {
    const out = new Uint8Array(d.size);
    for (let lbn = 0; lbn * g.bsize < d.size; lbn++) {
      const a = blockOf(d, lbn);
      if (a < 0) return null;
      const n = Math.min(g.bsize, d.size - lbn * g.bsize);
      if (a === 0) {
        report(`directory ${ino}: hole at block ${lbn}`);
        continue;
      }
      out.set(bytes.subarray(a * g.fsize, a * g.fsize + n), lbn * g.bsize);
    }
    return out;
  };
  const blockOf = (d: DinodeFields, lbn: number): number => {
    let a: number;
    if (lbn < NDADDR) a = d.db[lbn]!;
    else {
      let l = lbn - NDADDR;
      let level = 1;
      let span = g.nindir;
      while (l >= span) {
        l -= span;
        span *= g.nindir;
        level++;
        if (level > NIADDR) return -1;
      }
      a = d.ib[level - 1]!;
      for (let k = 0; k < level && a !== 0; k++) {
        span /= g.nindir;
        const idx = Math.floor(l / span) % g.nindir;
        if (a < 0 || a + g.frag > g.size) return -1;
        a = g.ufs2 ? Number(dv.getBigInt64(a * g.fsize + idx * 8, le)) : dv.getInt32(a * g.fsize + idx * 4, le);
      }
    }
    return a >= 0 && a < g.size ? a : -1;
  };
  if (!root || (root.mode & 0o170000) !== IFDIR) report('root inode is not an allocated directory');
  else {
    const queue: Array<[number, number]> = [[UFS_ROOTINO, UFS_ROOTINO]];
    reachedDirs.add(UFS_ROOTINO);
    addRef(UFS_ROOTINO); // the root's '..' names itself, counted with its '.'
    const old = !g.ufs2 && g.sb.old_inodefmt < FS_44INODEFMT;
    while (queue.length) {
      const [ino, parent] = queue.shift()!;
      const d = inodes.get(ino)!;
      const data = readFile(d, ino);
      if (!data) {
        report(`directory ${ino}: unreadable block map`);
        continue;
      }
      let index = 0;
      for (let c = 0; c + DIRBLKSIZ <= data.length; c += DIRBLKSIZ) {
        let off = c;
        while (off < c + DIRBLKSIZ) {
          const e = DIRECT.decode(data, off, le);
          const namlen = old ? ODIRECT.decode(data, off, le).namlen : e.namlen;
          if (e.reclen < 8 || e.reclen % 4 !== 0 || off + e.reclen > c + DIRBLKSIZ || (e.ino !== 0 && directSize(namlen) > e.reclen)) {
            report(`directory ${ino}: bad entry at offset ${off} (reclen ${e.reclen}, namlen ${namlen})`);
            break;
          }
          const nameBytes = data.subarray(off + 8, off + 8 + namlen);
          const name = new TextDecoder().decode(nameBytes);
          const pos = index++;
          off += e.reclen;
          if (e.ino === 0) continue;
          if (namlen === 0 || nameBytes.includes(0) || nameBytes.includes(0x2f)) report(`directory ${ino}: bad name at entry ${pos}`);
          if (pos === 0 && name !== '.') report(`directory ${ino}: first entry is '${name}', not '.'`);
          if (pos === 1 && name !== '..') report(`directory ${ino}: second entry is '${name}', not '..'`);
          if (name === '.') {
            if (pos !== 0) report(`directory ${ino}: extra '.' entry`);
            if (e.ino !== ino) report(`directory ${ino}: '.' names inode ${e.ino}`);
            else addRef(ino);
            continue;
          }
          if (name === '..') {
            if (pos !== 1) report(`directory ${ino}: extra '..' entry`);
            if (e.ino !== parent) report(`directory ${ino}: '..' names inode ${e.ino}, parent is ${parent}`);
            else if (ino !== UFS_ROOTINO) addRef(parent);
            continue;
          }
          if (e.ino >= maxino || e.ino < UFS_ROOTINO) {
            report(`directory ${ino}: entry '${name}' names inode ${e.ino} out of range`);
            continue;
          }
          const t = inodes.get(e.ino);
          if (!t) {
            report(`directory ${ino}: entry '${name}' names unallocated inode ${e.ino}`);
            continue;
          }
          addRef(e.ino);
          const want = DT_OF_IFMT.get(t.mode & 0o170000);
          if (!old && e.type !== want) report(`directory ${ino}: entry '${name}' has type ${e.type}, inode ${e.ino} is ${want}`);
          if ((t.mode & 0o170000) === IFDIR) {
            if (reachedDirs.has(e.ino)) report(`directory ${e.ino}: reached twice (extra entry '${name}' in ${ino})`);
            else {
              reachedDirs.add(e.ino);
              queue.push([e.ino, ino]);
            }
          }
        }
      }
    }
  }

  /* ---- pass 4: link counts ---- */
  for (const [ino, d] of inodes) {
    const r = refs.get(ino) ?? 0;
    if (r === 0) report(`inode ${ino}: allocated but not in any directory`);
    else if (r !== d.nlink) report(`inode ${ino}: link count ${d.nlink}, found ${r} references`);
  }

  /* ---- pass 5: maps and summaries ---- */
  const tot = { ndir: 0, nbfree: 0, nifree: 0, nffree: 0 };
  for (let c = 0; c < g.ncg; c++) {
    const h = cgs[c];
    if (!h) continue;
    const base = g.cgbase(c);
    let badFree = 0;
    let badUsed = 0;
    let first = '';
    for (let f = 0; f < h.ndblk; f++) {
      const isFree = bit(c, h.freeoff, f);
      const o = owner[base + f]!;
      if (isFree && o !== 0) {
        if (!badFree++) first ||= `frag ${base + f} is free in the map but used by ${o === -1 ? 'metadata' : `inode ${o}`}`;
      } else if (!isFree && o === 0) {
        if (!badUsed++) first ||= `frag ${base + f} is used in the map but not claimed`;
      }
    }
    if (badFree || badUsed) report(`cg ${c}: free map wrong: ${badFree} used frags marked free, ${badUsed} free frags marked used (${first})`);
    // Summaries from the map itself, so map errors and count errors are told apart.
    let nbfree = 0;
    let nffree = 0;
    const frsum = new Array<number>(8).fill(0);
    const nblk = Math.ceil(h.ndblk / g.frag);
    const blockFree: boolean[] = [];
    for (let b = 0; b < nblk; b++) {
      const f0 = b * g.frag;
      const fn = Math.min(f0 + g.frag, h.ndblk);
      let cnt = 0;
      for (let f = f0; f < fn; f++) if (bit(c, h.freeoff, f)) cnt++;
      if (fn - f0 === g.frag && cnt === g.frag) {
        nbfree++;
        blockFree.push(true);
        continue;
      }
      blockFree.push(false);
      nffree += cnt;
      let run = 0;
      for (let f = f0; f <= fn; f++) {
        if (f < fn && bit(c, h.freeoff, f)) run++;
        else if (run) {
          frsum[run]!++;
          run = 0;
        }
      }
    }
    let nifree = 0;
    let ndir = 0;
    for (let i = 0; i < g.ipg; i++) {
      if (!bit(c, h.iusedoff, i)) nifree++;
      const d = inodes.get(c * g.ipg + i);
      if (d && (d.mode & 0o170000) === IFDIR) ndir++;
    }
    const cmp = (what: string, have: number, want: number) => {
      if (have !== want) report(`cg ${c}: ${what} is ${have}, counted ${want}`);
    };
    cmp('free block count', h.cs_nbfree, nbfree);
    cmp('free frag count', h.cs_nffree, nffree);
    cmp('free inode count', h.cs_nifree, nifree);
    cmp('directory count', h.cs_ndir, ndir);
    for (let i = 1; i < g.frag; i++) cmp(`frsum[${i}]`, h.frsum[i]!, frsum[i]!);
    if (g.contigsumsize > 0) {
      const nclust = h.nclusterblks;
      let mapBad = 0;
      for (let b = 0; b < nclust; b++) if (bit(c, h.clusteroff, b) !== (blockFree[b] ?? false)) mapBad++;
      if (mapBad) report(`cg ${c}: cluster map disagrees with the free map for ${mapBad} blocks`);
      const sum = new Array<number>(g.contigsumsize + 1).fill(0);
      let run = 0;
      for (let b = 0; b <= nclust; b++) {
        if (b < nclust && blockFree[b]) run++;
        else if (run) {
          sum[Math.min(run, g.contigsumsize)]!++;
          run = 0;
        }
      }
      for (let i = 1; i <= g.contigsumsize; i++) {
        const have = dv.getInt32(cgAt(c) + h.clustersumoff + i * 4, le);
        cmp(`cluster summary[${i}]`, have, sum[i]!);
      }
    }
    const cs = CSUM.decode(bytes, g.csaddr * g.fsize + c * 16, le);
    if (cs.nbfree !== h.cs_nbfree || cs.nffree !== h.cs_nffree || cs.nifree !== h.cs_nifree || cs.ndir !== h.cs_ndir) {
      report(`cg ${c}: summary area (${cs.ndir}/${cs.nbfree}/${cs.nifree}/${cs.nffree}) disagrees with the cg (${h.cs_ndir}/${h.cs_nbfree}/${h.cs_nifree}/${h.cs_nffree})`);
    }
    tot.ndir += ndir;
    tot.nbfree += nbfree;
    tot.nifree += nifree;
    tot.nffree += nffree;
  }
  // A copy's totals date from newfs: only the primary's are kept current.
  if (!usingCopy && cgs.every((x) => x !== null)) {
    const sb = g.sb;
    const have = g.ufs2
      ? { ndir: sb.cs_ndir, nbfree: sb.cs_nbfree, nifree: sb.cs_nifree, nffree: sb.cs_nffree }
      : { ndir: sb.old_cs_ndir, nbfree: sb.old_cs_nbfree, nifree: sb.old_cs_nifree, nffree: sb.old_cs_nffree };
    for (const k of ['ndir', 'nbfree', 'nifree', 'nffree'] as const) {
      if (have[k] !== tot[k]) report(`superblock: total ${k} is ${have[k]}, counted ${tot[k]}`);
    }
  }
}
