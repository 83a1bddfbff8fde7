/**
 * newfs for FFS (NetBSD's sbin/newfs/mkfs.c, in its modern "one cylinder per
 * group" form): lays out UFS1 or UFS2 in either byte order on a device of any
 * size from 1 MiB, with the superblock and its copies, the cylinder groups and
 * their maps and summaries, zeroed inodes, and a root directory.
 *
 * Options: version=1|2 (default 2), bsize=, fsize= (default 8192/1024 below
 * 512 MiB, 16384/2048 above), endian=le|be, density= (bytes per inode),
 * minfree= (percent), label= (volume name).
 */

import { kerr } from '../../kern/error.js';
import type { BlockDevice, KernelServices, OptionMap } from '../../vfs/types.js';
import {
  SUPERBLOCK, CG, CG_MAGIC, CSUM, DINODE1, DINODE2, DIRECT, FS_UFS1_MAGIC, FS_UFS2_MAGIC, SBLOCK_UFS1, SBLOCK_UFS2, SBLOCKSIZE,
  FS_ISCLEAN, FS_FLAGS_UPDATED, FS_44INODEFMT, NDADDR, NIADDR, MAXSYMLINKLEN_UFS1, MAXSYMLINKLEN_UFS2, UFS_ROOTINO, DIRBLKSIZ,
  DT_DIR, MINBSIZE, MAXBSIZE, MAXFRAG, SB_VOLNAME_OFF, MAXVOLLEN,
} from './layout.js';

const FS_MAXCONTIG = 16;
const MAXPHYS = 65536;

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

function intOpt(o: OptionMap, name: string, dflt: number): number {
  const v = o.get(name);
  if (v === undefined || v === '') return dflt;
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) throw kerr('EINVAL', `ffs newfs: bad ${name}=${v}`);
  const mult = { '': 1, k: 1024, K: 1024, m: 1 << 20, M: 1 << 20, g: 1 << 30, G: 1 << 30 }[m[2]!]!;
  return Number(m[1]) * mult;
}

interface Layout {
  ufs2: boolean;
  le: boolean;
  bsize: number;
  fsize: number;
  frag: number;
  size: number;
  fpg: number;
  ipg: number;
  ncg: number;
  sblockloc: number;
  sblkno: number;
  cblkno: number;
  iblkno: number;
  dblkno: number;
  inopb: number;
  isize: number;
  cgsize: number;
  contigsumsize: number;
}

/** Bytes a cg block needs with these maps (mkfs.c CGSIZE). */
function cgBytes(ufs2: boolean, ipg: number, fpg: number, frag: number, contig: number): number {
  let off = CG.size;
  if (!ufs2) off += 4 + 2; // old_cpg = 1, old_nrpos = 1 rotational tables
  off += Math.ceil(ipg / 8) + Math.ceil(fpg / 8);
  if (contig > 0) off = Math.ceil(off / 4) * 4 - 4 + (contig + 1) * 4 + Math.ceil(fpg / frag / 8);
  return off;
}

function plan(devSize: number, o: OptionMap): Layout {
  const version = intOpt(o, 'version', 2);
  if (version !== 1 && version !== 2) throw kerr('EINVAL', `ffs newfs: version must be 1 or 2, not ${version}`);
  const ufs2 = version === 2;
  const endian = o.get('endian') ?? 'le';
  if (endian !== 'le' && endian !== 'be') throw kerr('EINVAL', `ffs newfs: endian must be le or be`);
  const big = devSize >= 512 * 1024 * 1024;
  const bsize = intOpt(o, 'bsize', big ? 16384 : 8192);
  const fsize = intOpt(o, 'fsize', Math.max(512, Math.floor(bsize / 8)));
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(bsize) || bsize < MINBSIZE || bsize > MAXBSIZE) throw kerr('EINVAL', `ffs newfs: bad bsize ${bsize}`);
  if (!pow2(fsize) || fsize < 512 || fsize > bsize || bsize / fsize > MAXFRAG) throw kerr('EINVAL', `ffs newfs: bad fsize ${fsize}`);
  const frag = bsize / fsize;
  const isize = ufs2 ? 256 : 128;
  const inopb = bsize / isize;
  const density = intOpt(o, 'density', big ? 8192 : 4096);
  if (density < 512) throw kerr('EINVAL', `ffs newfs: bad density ${density}`);
  let size = Math.floor(devSize / fsize);
  if (o.has('size')) size = Math.min(size, Math.floor(intOpt(o, 'size', 0) / fsize));
  const sblockloc = ufs2 ? SBLOCK_UFS2 : SBLOCK_UFS1;
  const sblkno = Math.ceil(Math.ceil((sblockloc + SBLOCKSIZE) / fsize) / frag) * frag;
  const cblkno = sblkno + Math.ceil(Math.ceil(SBLOCKSIZE / fsize) / frag) * frag;
  const iblkno = cblkno + frag;
  const contigsumsize = Math.min(Math.max(1, Math.floor(MAXPHYS / bsize)), FS_MAXCONTIG);
  const ipgFor = (fpg: number) => Math.max(inopb, Math.ceil(Math.ceil((fpg * fsize) / density) / inopb) * inopb);
  // The largest group whose maps fit in one block, and no larger than the file system.
  let fpg = Math.floor(Math.min(size, 8 * bsize * frag) / (frag * 8)) * frag * 8;
  if (fpg < frag * 8) fpg = Math.ceil(size / frag) * frag;
  while (fpg > frag * 8 && cgBytes(ufs2, ipgFor(fpg), fpg, frag, contigsumsize) > bsize) fpg -= frag * 8;
  let ipg = ipgFor(fpg);
  if (ipg > 0xffff * inopb) ipg = 0xffff * inopb;
  const dblkno = iblkno + (ipg / inopb) * frag;
  let ncg = Math.ceil(size / fpg);
  // A short last group needs room for its metadata and some data, else it is dropped.
  if (ncg > 1 && size - (ncg - 1) * fpg < dblkno + frag * 4) {
    ncg--;
    size = ncg * fpg;
  }
  if (dblkno + Math.ceil((ncg * 16) / fsize) + frag >= Math.min(size, fpg)) {
    throw kerr('ENOSPC', `ffs newfs: ${devSize} bytes is too small for a file system`);
  }
  const cgsize = Math.ceil(cgBytes(ufs2, ipg, fpg, frag, contigsumsize) / fsize) * fsize;
  if (cgsize > bsize) throw kerr('EINVAL', 'ffs newfs: cylinder-group maps do not fit a block');
  return { ufs2, le: endian === 'le', bsize, fsize, frag, size, fpg, ipg, ncg, sblockloc, sblkno, cblkno, iblkno, dblkno, inopb, isize, cgsize, contigsumsize };
}

export async function newfs(dev: BlockDevice, o: OptionMap, k: KernelServices, label?: string): Promise<void> {
  if (dev.readonly) throw kerr('EROFS', 'ffs newfs: device is read-only');
  const L = plan(dev.size, o);
  const { ufs2, le, bsize, fsize, frag, size, fpg, ipg, ncg } = L;
  const now = k.now();
  const csfrags = Math.ceil((ncg * 16) / fsize);
  const cssize = csfrags * fsize;
  const csaddr = L.dblkno; // cgdmin(0): the summary area opens cg 0's data
  const rootFrag = csaddr + csfrags; // the root directory's one fragment
  const rootFrags = Math.ceil(DIRBLKSIZ / fsize);
  const initediblk = Math.min(ipg, 2 * L.inopb);

  // Per-cg maps, accounted exactly as the checker and the allocator count them.
  const cs = { ndir: 0, nbfree: 0, nifree: 0, nffree: 0 };
  const csArea = new Uint8Array(cssize);
  const start = CG.size;
  const iusedoff = ufs2 ? start : start + 4 + 2;
  const freeoff = iusedoff + Math.ceil(ipg / 8);
  let nextfreeoff = freeoff + Math.ceil(fpg / 8);
  let clustersumoff = 0;
  let clusteroff = 0;
  if (L.contigsumsize > 0) {
    clustersumoff = Math.ceil(nextfreeoff / 4) * 4 - 4;
    clusteroff = clustersumoff + (L.contigsumsize + 1) * 4;
    nextfreeoff = clusteroff + Math.ceil(fpg / frag / 8);
  }
  const writes: Array<[Uint8Array, number]> = [];
  for (let c = 0; c < ncg; c++) {
    const cgbase = c * fpg;
    const ndblk = Math.min(fpg, size - cgbase);
    const blk = new Uint8Array(L.cgsize);
    const dv = new DataView(blk.buffer);
    const setFree = (f: number) => (blk[freeoff + (f >> 3)]! |= 1 << (f & 7));
    const isFree = (f: number) => (blk[freeoff + (f >> 3)]! & (1 << (f & 7))) !== 0;
    const dlower = c === 0 ? 0 : L.sblkno;
    const dmin = c === 0 ? rootFrag + rootFrags : L.dblkno;
    for (let f = 0; f < dlower; f++) setFree(f);
    for (let f = dmin; f < ndblk; f++) setFree(f);
    let nbfree = 0;
    let nffree = 0;
    const frsum = new Array<number>(8).fill(0);
    const nclusterblks = Math.floor(ndblk / frag);
    const blockFree: boolean[] = [];
    for (let b = 0; b * frag < ndblk; b++) {
      const f0 = b * frag;
      const fn = Math.min(f0 + frag, ndblk);
      let cnt = 0;
      for (let f = f0; f < fn; f++) if (isFree(f)) cnt++;
      if (fn - f0 === frag && cnt === frag) {
        nbfree++;
        blockFree.push(true);
        if (L.contigsumsize > 0) blk[clusteroff + (b >> 3)]! |= 1 << (b & 7);
        continue;
      }
      blockFree.push(false);
      nffree += cnt;
      let run = 0;
      for (let f = f0; f <= fn; f++) {
        if (f < fn && isFree(f)) run++;
        else if (run) {
          frsum[run]!++;
          run = 0;
        }
      }
    }
    if (L.contigsumsize > 0) {
      let run = 0;
      for (let b = 0; b <= nclusterblks; b++) {
        if (b < nclusterblks && blockFree[b]) run++;
        else if (run) {
          const i = Math.min(run, L.contigsumsize);
          dv.setInt32(clustersumoff + i * 4, dv.getInt32(clustersumoff + i * 4, le) + 1, le);
          run = 0;
        }
      }
    }
    let nifree = ipg;
    let ndir = 0;
    if (c === 0) {
      for (let i = 0; i <= UFS_ROOTINO; i++) blk[iusedoff + (i >> 3)]! |= 1 << (i & 7);
      nifree -= UFS_ROOTINO + 1;
      ndir = 1;
    }
    const hdr: Parameters<typeof CG.encode>[3] = {
      magic: CG_MAGIC,
      old_time: now.sec,
      time: now.sec,
      cgx: c,
      old_ncyl: ufs2 ? 0 : 1,
      old_niblk: ufs2 ? 0 : Math.min(ipg, 0x7fff),
      ndblk,
      cs_ndir: ndir,
      cs_nbfree: nbfree,
      cs_nifree: nifree,
      cs_nffree: nffree,
      rotor: 0,
      frotor: 0,
      irotor: 0,
      frsum,
      old_btotoff: ufs2 ? 0 : start,
      old_boff: ufs2 ? 0 : start + 4,
      iusedoff,
      freeoff,
      nextfreeoff,
      clustersumoff,
      clusteroff,
      nclusterblks,
      niblk: ufs2 ? ipg : 0,
      initediblk: ufs2 ? initediblk : 0,
    };
    CG.encode(blk, 0, le, hdr);
    CSUM.encode(csArea, c * 16, le, { ndir, nbfree, nifree, nffree });
    cs.ndir += ndir;
    cs.nbfree += nbfree;
    cs.nifree += nifree;
    cs.nffree += nffree;
    writes.push([blk, (cgbase + L.cblkno) * fsize]);
    // Inode blocks: UFS1 all of them, UFS2 the lazily initialised first ones.
    const nino = ufs2 ? initediblk : ipg;
    const ib = new Uint8Array(Math.ceil(nino / L.inopb) * bsize);
    if (ufs2) {
      const r = new Uint8Array(4 * nino);
      k.random(r);
      const rdv = new DataView(r.buffer);
      for (let i = 0; i < nino; i++) DINODE2.encode(ib, i * DINODE2.size, le, { gen: rdv.getInt32(i * 4) & 0x7fffffff });
    }
    writes.push([ib, (cgbase + L.iblkno) * fsize]);
  }

  // The root directory: '.' and '..' in one 512-byte chunk.
  const rootBlk = new Uint8Array(rootFrags * fsize);
  DIRECT.encode(rootBlk, 0, le, { ino: UFS_ROOTINO, reclen: 12, type: DT_DIR, namlen: 1 });
  rootBlk[8] = 0x2e;
  DIRECT.encode(rootBlk, 12, le, { ino: UFS_ROOTINO, reclen: DIRBLKSIZ - 12, type: DT_DIR, namlen: 2 });
  rootBlk[20] = 0x2e;
  rootBlk[21] = 0x2e;
  writes.push([rootBlk, rootFrag * fsize]);
  // The root inode, patched into cg 0's first inode block.
  const rootInode = {
    mode: 0o040755,
    nlink: 2,
    uid: 0,
    gid: 0,
    size: DIRBLKSIZ,
    blocks: (rootFrags * fsize) / 512,
    atime: now.sec, atimensec: now.nsec,
    mtime: now.sec, mtimensec: now.nsec,
    ctime: now.sec, ctimensec: now.nsec,
    birthtime: now.sec, birthnsec: now.nsec,
    db: [rootFrag, ...new Array<number>(NDADDR - 1).fill(0)],
    ib: new Array<number>(NIADDR).fill(0),
    gen: 1,
    blksize: bsize,
  };
  const cg0Inodes = writes[1]![0];
  if (ufs2) DINODE2.encode(cg0Inodes, UFS_ROOTINO * 256, le, rootInode);
  else DINODE1.encode(cg0Inodes, UFS_ROOTINO * 128, le, rootInode);
  writes.push([csArea, csaddr * fsize]);

  // The superblock.
  const sbsize = Math.min(SBLOCKSIZE, Math.ceil(1376 / fsize) * fsize);
  const sb = new Uint8Array(sbsize);
  const nindir = bsize / (ufs2 ? 8 : 4);
  const dsize = size - L.sblkno - ncg * (L.dblkno - L.sblkno) - csfrags;
  const maxfilesize = Math.min(Number.MAX_SAFE_INTEGER, (NDADDR + nindir + nindir * nindir + nindir * nindir * nindir) * bsize - 1);
  const id = new Uint8Array(8);
  k.random(id);
  const idv = new DataView(id.buffer);
  const maxcontig = Math.max(1, Math.floor(MAXPHYS / bsize));
  SUPERBLOCK.encode(sb, 0, le, {
    sblkno: L.sblkno, cblkno: L.cblkno, iblkno: L.iblkno, dblkno: L.dblkno,
    old_cgoffset: 0, old_cgmask: -1,
    old_time: now.sec, old_size: ufs2 ? 0 : size, old_dsize: ufs2 ? 0 : dsize,
    ncg, bsize, fsize, frag,
    minfree: intOpt(o, 'minfree', 5), old_rotdelay: 0, old_rps: 60,
    bmask: ~(bsize - 1), fmask: ~(fsize - 1), bshift: log2(bsize), fshift: log2(fsize),
    maxcontig, maxbpg: nindir,
    fragshift: log2(frag), fsbtodb: log2(fsize / 512), sbsize,
    nindir, inopb: L.inopb, old_nspf: fsize / 512, optim: 0,
    old_npsect: (fpg * fsize) / 512, old_interleave: 1, old_trackskew: 0,
    id: [idv.getInt32(0), idv.getInt32(4) & 0x7fffffff],
    old_csaddr: ufs2 ? 0 : csaddr, cssize, cgsize: L.cgsize,
    old_nsect: (fpg * fsize) / 512, old_spc: (fpg * fsize) / 512, old_ncyl: ncg, old_cpg: 1,
    ipg, fpg,
    old_cs_ndir: ufs2 ? 0 : cs.ndir, old_cs_nbfree: ufs2 ? 0 : cs.nbfree, old_cs_nifree: ufs2 ? 0 : cs.nifree, old_cs_nffree: ufs2 ? 0 : cs.nffree,
    fmod: 0, clean: FS_ISCLEAN, ronly: 0, old_flags: FS_FLAGS_UPDATED,
    maxbsize: bsize,
    sblockloc: L.sblockloc,
    cs_ndir: cs.ndir, cs_nbfree: cs.nbfree, cs_nifree: cs.nifree, cs_nffree: cs.nffree, cs_numclusters: 0,
    time: now.sec, size, dsize, csaddr,
    avgfilesize: 16384, avgfpdir: 64,
    flags: 0,
    contigsumsize: L.contigsumsize,
    maxsymlinklen: ufs2 ? MAXSYMLINKLEN_UFS2 : MAXSYMLINKLEN_UFS1,
    old_inodefmt: FS_44INODEFMT,
    maxfilesize,
    qbmask: bsize - 1, qfmask: fsize - 1,
    old_postblformat: 1, old_nrpos: 1,
    magic: ufs2 ? FS_UFS2_MAGIC : FS_UFS1_MAGIC,
  });
  const name = new TextEncoder().encode(label ?? o.get('label') ?? '').subarray(0, MAXVOLLEN - 1);
  sb.set(name, SB_VOLNAME_OFF);
  // Copies in every group, then the primary.
  for (let c = 0; c < ncg; c++) writes.push([sb, (c * fpg + L.sblkno) * fsize]);
  writes.push([sb, L.sblockloc]);
  for (const [data, off] of writes) await dev.write(data, off);
  await dev.flush();
}
