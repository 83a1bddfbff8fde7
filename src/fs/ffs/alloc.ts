/**
 * Allocation through the cylinder-group maps (NetBSD's ffs_alloc.c): inodes,
 * blocks and fragments, with the classic policies (directories spread over
 * the groups, files near their directory, blocks near the previous block,
 * small tails in fragments) and every summary kept right: the per-cg csum,
 * frsum and cluster counts, the superblock summary area and totals.
 *
 * Every change of the free-frag map goes through setFrags(), which accounts
 * each touched block from its state before and after; that one rule keeps
 * nbfree/nffree/frsum/cluster maps consistent for any mix of frags and blocks.
 */

import { kerr } from '../../kern/error.js';
import type { BufCache, Buf } from '../../vfs/bio.js';
import { CG, CG_MAGIC, CSUM, DINODE2, type CgHeader } from './layout.js';
import type { FsGeom } from './geom.js';

export interface CsumTotals {
  ndir: number;
  nbfree: number;
  nifree: number;
  nffree: number;
}

export class Allocator {
  /** The summary area (fs_csp): one csum per cg, kept in memory, written at sync. */
  readonly cs: CsumTotals[] = [];
  readonly total: CsumTotals = { ndir: 0, nbfree: 0, nifree: 0, nffree: 0 };
  numclusters = 0;
  private readonly checked = new WeakSet<Uint8Array>();

  constructor(
    private readonly g: FsGeom,
    private readonly bio: BufCache,
    private readonly now: () => number,
    private readonly random: () => number,
  ) {}

  /** Loads the summary area; totals come from the superblock. */
  loadSummary(area: Uint8Array, totalsFromArea = false): void {
    for (let c = 0; c < this.g.ncg; c++) {
      const s = CSUM.decode(area, c * 16, this.g.le);
      this.cs.push({ ndir: s.ndir, nbfree: s.nbfree, nifree: s.nifree, nffree: s.nffree });
    }
    if (totalsFromArea) {
      // A superblock copy's totals are stale; the summary area is current.
      for (const s of this.cs) {
        this.total.ndir += s.ndir;
        this.total.nbfree += s.nbfree;
        this.total.nifree += s.nifree;
        this.total.nffree += s.nffree;
      }
      return;
    }
    const sb = this.g.sb;
    if (this.g.ufs2) Object.assign(this.total, { ndir: sb.cs_ndir, nbfree: sb.cs_nbfree, nifree: sb.cs_nifree, nffree: sb.cs_nffree });
    else Object.assign(this.total, { ndir: sb.old_cs_ndir, nbfree: sb.old_cs_nbfree, nifree: sb.old_cs_nifree, nffree: sb.old_cs_nffree });
  }

  encodeSummary(): Uint8Array {
    const out = new Uint8Array(this.g.csbytes);
    for (let c = 0; c < this.g.ncg; c++) CSUM.encode(out, c * 16, this.g.le, this.cs[c]!);
    return out;
  }

  /** Reads and checks cg `c`. The caller releases the buffer (bdwrite when changed). */
  async getCg(c: number): Promise<Buf> {
    const bp = await this.bio.bread(this.g.cgtod(c) * this.g.fsize, this.g.cgbytes);
    // Checked once per buffer: after that only this allocator changes it.
    if (this.checked.has(bp.data)) return bp;
    const h = CG.decode(bp.data, 0, this.g.le);
    const bad = this.cgProblem(h, c);
    if (bad) {
      this.bio.brelse(bp);
      throw kerr('EIO', `ffs: cylinder group ${c}: ${bad}`);
    }
    this.checked.add(bp.data);
    return bp;
  }

  private cgProblem(h: ReturnType<typeof CG.decode>, c: number): string | null {
    const g = this.g;
    if (h.magic !== CG_MAGIC) return `bad magic 0x${(h.magic >>> 0).toString(16)}`;
    if (h.cgx !== c) return `index ${h.cgx}`;
    if (h.ndblk !== g.cgfrags(c)) return `frag count ${h.ndblk}`;
    const n = g.cgbytes;
    const mapEnd = (off: number, bytes: number) => off >= CG.size && off + bytes <= n;
    if (!mapEnd(h.iusedoff, Math.ceil(g.ipg / 8))) return 'inode map outside the cg block';
    if (!mapEnd(h.freeoff, Math.ceil(g.fpg / 8))) return 'free map outside the cg block';
    if (g.contigsumsize > 0) {
      if (!mapEnd(h.clustersumoff, (g.contigsumsize + 1) * 4)) return 'cluster summary outside the cg block';
      if (!mapEnd(h.clusteroff, Math.ceil(g.fpg / g.frag / 8))) return 'cluster map outside the cg block';
    }
    if (g.ufs2 && (h.initediblk < 0 || h.initediblk > g.ipg)) return `initialised-inode count ${h.initediblk}`;
    if (g.contigsumsize > 0 && h.nclusterblks !== Math.floor(h.ndblk / g.frag)) return `cluster block count ${h.nclusterblks}`;
    return null;
  }

  /* ---- inodes ---- */

  /** Allocates an inode near `parentIno` (directories: in a lightly used group). Returns the number; the caller initialises it. */
  async ialloc(parentIno: number, isDir: boolean): Promise<number> {
    const g = this.g;
    if (this.total.nifree <= 0) throw kerr('ENOSPC', 'ffs: out of inodes');
    const pref = isDir ? this.dirpref() : g.inoToCg(parentIno);
    for (const c of this.hashOrder(pref)) {
      if (this.cs[c]!.nifree <= 0) continue;
      const ino = await this.iallocCg(c, isDir);
      if (ino !== 0) return ino;
    }
    throw kerr('ENOSPC', 'ffs: out of inodes');
  }

  /** 4.4BSD's ffs_dirpref: a group with at least average free inodes and blocks, and the fewest directories. */
  private dirpref(): number {
    const g = this.g;
    const avgifree = this.total.nifree / g.ncg;
    const avgbfree = this.total.nbfree / g.ncg;
    let best = -1;
    let mindirs = Infinity;
    for (let c = 0; c < g.ncg; c++) {
      const s = this.cs[c]!;
      if (s.nifree >= avgifree && s.nbfree >= avgbfree && s.ndir < mindirs) {
        best = c;
        mindirs = s.ndir;
      }
    }
    if (best >= 0) return best;
    for (let c = 0; c < g.ncg; c++) if (this.cs[c]!.nifree > 0) return c;
    return 0;
  }

  /** ffs_hashalloc's order: the preferred group, quadratic rehash, then every group. */
  private *hashOrder(pref: number): Generator<number> {
    const n = this.g.ncg;
    const seen = new Set<number>();
    const emit = function* (c: number) {
      if (!seen.has(c)) {
        seen.add(c);
        yield c;
      }
    };
    yield* emit(pref % n);
    for (let i = 1, c = pref; i < n; i *= 2) {
      c = (c + i) % n;
      yield* emit(c);
    }
    for (let i = 0, c = (pref + 2) % n; i < n; i++, c = (c + 1) % n) yield* emit(c);
  }

  private async iallocCg(c: number, isDir: boolean): Promise<number> {
    const g = this.g;
    const bp = await this.getCg(c);
    try {
      const d = bp.data;
      const h = CG.decode(d, 0, g.le);
      const map = d.subarray(h.iusedoff, h.iusedoff + Math.ceil(g.ipg / 8));
      let found = -1;
      const start = h.irotor >= 0 && h.irotor < g.ipg ? h.irotor : 0;
      for (let k = 0; k < g.ipg; k++) {
        const i = (start + k) % g.ipg;
        if ((map[i >> 3]! & (1 << (i & 7))) === 0) {
          if (c === 0 && i < 2) continue; // inodes 0 and 1 are never handed out
          found = i;
          break;
        }
      }
      if (found < 0) {
        this.bio.brelse(bp);
        return 0;
      }
      // UFS2 initialises inode blocks lazily: zero the next block before handing out its first inode.
      let initediblk = h.initediblk;
      if (g.ufs2) {
        while (found + g.inopb > initediblk && initediblk < g.ipg) {
          const fsba = g.cgimin(c) + (initediblk / g.inopb) * g.frag;
          const ib = await this.bio.getblk(fsba * g.fsize, g.bsize);
          ib.data.fill(0);
          // Fresh inodes get random generation numbers, as NetBSD does.
          for (let j = 0; j < g.inopb; j++) {
            DINODE2.encode(ib.data, j * DINODE2.size, g.le, { gen: this.random() | 0 });
          }
          this.bio.bdwrite(ib);
          initediblk += g.inopb;
        }
      }
      map[found >> 3]! |= 1 << (found & 7);
      const upd: Partial<ReturnType<typeof CG.decode>> = {
        irotor: found,
        cs_nifree: h.cs_nifree - 1,
        cs_ndir: h.cs_ndir + (isDir ? 1 : 0),
        time: this.now(),
        old_time: this.now(),
      };
      if (g.ufs2) upd.initediblk = initediblk;
      CG.encode(d, 0, g.le, upd);
      this.cs[c]!.nifree--;
      this.total.nifree--;
      if (isDir) {
        this.cs[c]!.ndir++;
        this.total.ndir++;
      }
      this.bio.bdwrite(bp);
      return c * g.ipg + found;
    } catch (e) {
      if (bp.refs > 0) this.bio.brelse(bp);
      throw e;
    }
  }

  async ifree(ino: number, isDir: boolean): Promise<void> {
    const g = this.g;
    const c = g.inoToCg(ino);
    const i = ino % g.ipg;
    const bp = await this.getCg(c);
    const d = bp.data;
    const h = CG.decode(d, 0, g.le);
    const map = d.subarray(h.iusedoff);
    if ((map[i >> 3]! & (1 << (i & 7))) === 0) {
      this.bio.brelse(bp);
      throw kerr('EIO', `ffs: freeing free inode ${ino}`);
    }
    map[i >> 3]! &= ~(1 << (i & 7));
    CG.encode(d, 0, g.le, {
      cs_nifree: h.cs_nifree + 1,
      cs_ndir: h.cs_ndir - (isDir ? 1 : 0),
      irotor: i < h.irotor ? i : h.irotor,
      time: this.now(),
      old_time: this.now(),
    });
    this.cs[c]!.nifree++;
    this.total.nifree++;
    if (isDir) {
      this.cs[c]!.ndir--;
      this.total.ndir--;
    }
    this.bio.bdwrite(bp);
  }

  /* ---- blocks and fragments ---- */

  /**
   * Allocates `nfrags` (1..frag) contiguous frags inside one block, near `pref`
   * (a frag address, 0 for none) or in group `cgPref`. Returns the frag address.
   */
  async alloc(pref: number, cgPref: number, nfrags: number): Promise<number> {
    const g = this.g;
    if (nfrags < 1 || nfrags > g.frag) throw kerr('EINVAL', `ffs: allocation of ${nfrags} frags`);
    if (this.total.nbfree <= 0 && (nfrags === g.frag || this.total.nffree < nfrags)) throw kerr('ENOSPC', 'ffs: file system full');
    const start = pref > 0 && pref < g.size ? g.dtog(pref) : cgPref % g.ncg;
    // The preferred group first, without building the search order (the common case).
    const s0 = this.cs[start]!;
    if (s0.nbfree > 0 || (nfrags < g.frag && s0.nffree >= nfrags)) {
      const a = await this.allocCg(start, pref > 0 && g.dtog(pref) === start ? pref : 0, nfrags);
      if (a > 0) return a;
    }
    for (const c of this.hashOrder(start)) {
      const s = this.cs[c]!;
      if (s.nbfree === 0 && (nfrags === g.frag || s.nffree < nfrags)) continue;
      const a = await this.allocCg(c, pref > 0 && g.dtog(pref) === c ? pref : 0, nfrags);
      if (a > 0) return a;
    }
    throw kerr('ENOSPC', 'ffs: file system full');
  }

  private async allocCg(c: number, pref: number, nfrags: number): Promise<number> {
    const g = this.g;
    const bp = await this.getCg(c);
    let done = false;
    try {
      const d = bp.data;
      const h = CG.decode(d, 0, g.le);
      const free = d.subarray(h.freeoff, h.freeoff + Math.ceil(g.fpg / 8));
      const isFree = (f: number) => (free[f >> 3]! & (1 << (f & 7))) !== 0;
      const nblk = Math.floor(h.ndblk / g.frag);
      const base = g.cgbase(c);
      let rel = -1;
      if (nfrags < g.frag) {
        // Best fit among runs inside partly used blocks (frsum says which sizes exist).
        let bestLen = Infinity;
        for (let sz = nfrags; sz < g.frag; sz++) if (h.frsum[sz]! > 0) { bestLen = sz; break; }
        if (bestLen !== Infinity) {
          const blocks = Math.ceil(h.ndblk / g.frag);
          // The first run of free fragments in partly used block b that `fits`, as a fragment index, or -1.
          const runIn = (b: number, fits: (run: number) => boolean): number => {
            const f0 = b * g.frag;
            const fn = Math.min(f0 + g.frag, h.ndblk);
            if (fn - f0 === g.frag && this.allFree(free, f0)) return -1;
            let run = 0;
            for (let f = f0; f <= fn; f++) {
              if (f < fn && isFree(f)) run++;
              else {
                if (fits(run)) return f - run;
                run = 0;
              }
            }
            return -1;
          };
          const fstart = Math.floor((h.frotor >= 0 && h.frotor < h.ndblk ? h.frotor : 0) / g.frag);
          for (let k = 0; k < blocks && rel < 0; k++) rel = runIn((fstart + k) % blocks, (run) => run >= nfrags && run === bestLen);
          // frsum promised a run we could not find: take any run big enough.
          for (let b = 0; b < blocks && rel < 0; b++) rel = runIn(b, (run) => run >= nfrags);
        }
        if (rel >= 0) CG.encode(d, 0, g.le, { frotor: rel });
      }
      if (rel < 0) {
        // A whole block: the preferred one when free, else the next free one from the rotor.
        const prefBlk = pref > 0 ? Math.floor((pref - base) / g.frag) : -1;
        if (prefBlk >= 0 && prefBlk < nblk && this.allFree(free, prefBlk * g.frag)) rel = prefBlk * g.frag;
        else {
          const rot = h.rotor >= 0 && h.rotor < h.ndblk ? Math.floor(h.rotor / g.frag) : 0;
          for (let k = 0; k < nblk; k++) {
            const b = (rot + k) % nblk;
            if (this.allFree(free, b * g.frag)) { rel = b * g.frag; break; }
          }
        }
        if (rel < 0) {
          this.bio.brelse(bp);
          done = true;
          return 0;
        }
        CG.encode(d, 0, g.le, { rotor: rel });
      }
      this.setFrags(c, d, h, rel, nfrags, false);
      this.bio.bdwrite(bp);
      done = true;
      return base + rel;
    } finally {
      if (!done) this.bio.brelse(bp);
    }
  }

  /** Extends the frags at `addr` from `ofrags` to `nfrags` in place when the following frags are free; false otherwise. */
  async extend(addr: number, ofrags: number, nfrags: number): Promise<boolean> {
    const g = this.g;
    if (Math.floor(addr / g.frag) !== Math.floor((addr + nfrags - 1) / g.frag)) return false;
    const c = g.dtog(addr);
    const bp = await this.getCg(c);
    const d = bp.data;
    const h = CG.decode(d, 0, g.le);
    const rel = addr - g.cgbase(c);
    if (rel + nfrags > h.ndblk) {
      this.bio.brelse(bp);
      return false;
    }
    for (let f = rel + ofrags; f < rel + nfrags; f++) {
      if ((d[h.freeoff + (f >> 3)]! & (1 << (f & 7))) === 0) {
        this.bio.brelse(bp);
        return false;
      }
    }
    this.setFrags(c, d, h, rel + ofrags, nfrags - ofrags, false);
    this.bio.bdwrite(bp);
    return true;
  }

  /** Frees `nfrags` frags at `addr` (all in one block). */
  async free(addr: number, nfrags: number): Promise<void> {
    const g = this.g;
    if (addr <= 0 || addr + nfrags > g.size) throw kerr('EIO', `ffs: freeing block ${addr} outside the file system`);
    const c = g.dtog(addr);
    const bp = await this.getCg(c);
    const d = bp.data;
    const h = CG.decode(d, 0, g.le);
    const rel = addr - g.cgbase(c);
    for (let f = rel; f < rel + nfrags; f++) {
      if ((d[h.freeoff + (f >> 3)]! & (1 << (f & 7))) !== 0) {
        this.bio.brelse(bp);
        throw kerr('EIO', `ffs: freeing free frag ${g.cgbase(c) + f}`);
      }
    }
    this.setFrags(c, d, h, rel, nfrags, true);
    this.bio.bdwrite(bp);
    // A cached copy (an indirect block) of freed space must not be written over the next owner's data.
    await this.bio.invalidateRange(addr * g.fsize, nfrags * g.fsize);
  }

  private allFree(free: Uint8Array, f0: number): boolean {
    for (let f = f0; f < f0 + this.g.frag; f++) if ((free[f >> 3]! & (1 << (f & 7))) === 0) return false;
    return true;
  }

  /**
   * Marks frags [rel, rel+n) of cg `c` free or used, and accounts every block
   * touched: whole free blocks count in nbfree and the cluster map, free frags
   * of partly used blocks in nffree and frsum.
   */
  private setFrags(c: number, d: Uint8Array, h: CgHeader, rel: number, n: number, makeFree: boolean): void {
    const g = this.g;
    const free = d.subarray(h.freeoff);
    const frsum = h.frsum.slice();
    let nbfree = 0;
    let nffree = 0;
    const b0 = Math.floor(rel / g.frag);
    const b1 = Math.floor((rel + n - 1) / g.frag);
    for (let b = b0; b <= b1; b++) {
      const f0 = b * g.frag;
      const fn = Math.min(f0 + g.frag, h.ndblk);
      const account = (sign: number) => {
        let cnt = 0;
        let run = 0;
        const whole = fn - f0 === g.frag;
        let all = true;
        for (let f = f0; f < fn; f++) if ((free[f >> 3]! & (1 << (f & 7))) === 0) { all = false; break; }
        if (whole && all) {
          nbfree += sign;
          this.clusterAcct(d, h, b, sign);
          return;
        }
        for (let f = f0; f <= fn; f++) {
          if (f < fn && (free[f >> 3]! & (1 << (f & 7))) !== 0) {
            run++;
            cnt++;
          } else if (run > 0) {
            frsum[run] = frsum[run]! + sign;
            run = 0;
          }
        }
        nffree += sign * cnt;
      };
      account(-1);
      for (let f = Math.max(f0, rel); f < Math.min(fn, rel + n); f++) {
        if (makeFree) free[f >> 3]! |= 1 << (f & 7);
        else free[f >> 3]! &= ~(1 << (f & 7));
      }
      account(+1);
    }
    CG.encode(d, 0, g.le, {
      frsum,
      cs_nbfree: h.cs_nbfree + nbfree,
      cs_nffree: h.cs_nffree + nffree,
      time: this.now(),
      old_time: this.now(),
    });
    this.cs[c]!.nbfree += nbfree;
    this.cs[c]!.nffree += nffree;
    this.total.nbfree += nbfree;
    this.total.nffree += nffree;
  }

  /** ffs_clusteracct: block `b` of the cg becomes free (+1) or used (-1); keeps the cluster map and its run counts. */
  private clusterAcct(d: Uint8Array, h: ReturnType<typeof CG.decode>, b: number, sign: number): void {
    const g = this.g;
    const css = g.contigsumsize;
    if (css <= 0) return;
    const map = d.subarray(h.clusteroff);
    const n = h.nclusterblks;
    if (b >= n) return;
    if (sign > 0) map[b >> 3]! |= 1 << (b & 7);
    else map[b >> 3]! &= ~(1 << (b & 7));
    const isSet = (i: number) => (map[i >> 3]! & (1 << (i & 7))) !== 0;
    let forw = 0;
    for (let i = b + 1; i < Math.min(n, b + 1 + css) && isSet(i); i++) forw++;
    let back = 0;
    for (let i = b - 1; i > Math.max(-1, b - 1 - css) && isSet(i); i--) back++;
    let len = back + forw + 1;
    if (len > css) len = css;
    const dv = new DataView(d.buffer, d.byteOffset + h.clustersumoff);
    const add = (i: number, v: number) => dv.setInt32(i * 4, dv.getInt32(i * 4, g.le) + v, g.le);
    add(len, sign);
    if (back > 0) add(back, -sign);
    if (forw > 0) add(forw, -sign);
  }
}
