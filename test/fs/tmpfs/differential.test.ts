/**
 * tmpfs (through the kernel's system calls) against the host's Linux kernel
 * as the oracle: the same seeded random sequence of namespace and data
 * operations runs on a mounted tmpfs and in a host temporary directory; every
 * call must succeed or fail alike (same errno), and the two trees must match
 * — names, types, sizes, link counts, contents, symlink targets.
 *
 * The regular run takes 8 seeds of 500 steps. A wider campaign (minutes):
 *   TMPFS_DIFF_SEEDS=60 TMPFS_DIFF_STEPS=1500 node --import tsx --test test/fs/tmpfs/differential.test.ts
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as hfs from '../../../src/testing/hostfs.js';
import { basename, dirname, join } from 'node:path';
import { Kernel } from '../../../src/kern/kernel.js';
import { tmpfs } from '../../../src/fs/tmpfs/index.js';
import { O_CREAT, O_EXCL, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import type { Proc } from '../../../src/vfs/proc.js';
import { tempDir } from '../../../src/testing/tools.js';

const PATHS = ['a', 'b', 'c', 'a/b', 'a/c', 'b/a', 'a/b/c', 'c/a', 'a/b/c/d'];
/** Symlink targets; none climbs above the link's directory, which could leave the tree differently on each side. */
const TARGETS = ['a', 'b', 'a/b', 'nowhere', '.', 'c/../a', 'b/c'];

/**
 * Answers POSIX leaves open where Linux picks one: a rename between a directory and a path below it breaks
 * two rules at once (EINVAL or ENOTEMPTY for the ancestry, ENOTDIR or EISDIR for the types), and Linux checks
 * the ancestry first. Ancestry is decided on the host's resolved paths (symlinks in the directories count).
 */
async function equivalent(root: string, desc: string, ours: Outcome, host: Outcome): Promise<boolean> {
  const m = /^rename (\S+) (\S+)$/.exec(desc);
  const codes = ['EINVAL', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR'];
  if (!m || !codes.includes(ours) || !codes.includes(host)) return false;
  const resolve = async (p: string): Promise<string | null> => {
    try {
      return join(await hfs.realpath(dirname(join(root, p))), basename(p));
    } catch {
      return null;
    }
  };
  const [x, y] = [await resolve(m[1]!), await resolve(m[2]!)];
  if (x === null || y === null) return false;
  return y.startsWith(`${x}/`) || x.startsWith(`${y}/`);
}

type Outcome = string;

interface Side {
  mkdir(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
  create(p: string, data: Uint8Array): Promise<void>;
  pwrite(p: string, data: Uint8Array, off: number): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(a: string, b: string): Promise<void>;
  link(a: string, b: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  truncate(p: string, n: number): Promise<void>;
  /** path -> description of everything below the root. */
  snapshot(): Promise<Map<string, string>>;
}

function kernelSide(p: Proc): Side {
  const snapshot = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const e of await p.readdir(dir)) {
        const full = `${dir}/${e.name}`;
        const r = rel ? `${rel}/${e.name}` : e.name;
        const st = await p.lstat(full);
        if (e.type === 'dir') {
          out.set(r, `dir nlink=${st.nlink}`);
          await walk(full, r);
        } else if (e.type === 'lnk') {
          out.set(r, `lnk -> ${await p.readlink(full)}`);
        } else {
          const fd = await p.open(full, O_RDONLY);
          const buf = new Uint8Array(st.size);
          let done = 0;
          while (done < buf.length) {
            const n = await p.pread(fd, buf.subarray(done), done);
            if (n === 0) break;
            done += n;
          }
          await p.close(fd);
          out.set(r, `reg nlink=${st.nlink} size=${st.size} sum=${checksum(buf)}`);
        }
      }
    };
    await walk('/mnt', '');
    return out;
  };
  return {
    mkdir: (x) => p.mkdir(`/mnt/${x}`, 0o755),
    rmdir: (x) => p.rmdir(`/mnt/${x}`),
    async create(x, data) {
      const fd = await p.open(`/mnt/${x}`, O_WRONLY | O_CREAT | O_EXCL, 0o644);
      try {
        await p.write(fd, data);
      } finally {
        await p.close(fd);
      }
    },
    async pwrite(x, data, off) {
      const fd = await p.open(`/mnt/${x}`, O_WRONLY);
      try {
        await p.pwrite(fd, data, off);
      } finally {
        await p.close(fd);
      }
    },
    unlink: (x) => p.unlink(`/mnt/${x}`),
    rename: (a, b) => p.rename(`/mnt/${a}`, `/mnt/${b}`),
    link: (a, b) => p.link(`/mnt/${a}`, `/mnt/${b}`),
    symlink: (t, x) => p.symlink(t, `/mnt/${x}`),
    truncate: (x, n) => p.truncate(`/mnt/${x}`, n),
    snapshot,
  };
}

function hostSide(root: string): Side {
  const at = (x: string): string => join(root, x);
  return {
    mkdir: (x) => hfs.mkdir(at(x), 0o755),
    rmdir: (x) => hfs.rmdir(at(x)),
    async create(x, data) {
      const fh = await hfs.open(at(x), 'wx', 0o644);
      try {
        await fh.write(data, 0, data.length, 0);
      } finally {
        await fh.close();
      }
    },
    async pwrite(x, data, off) {
      const fh = await hfs.open(at(x), 'r+');
      try {
        await fh.write(data, 0, data.length, off);
      } finally {
        await fh.close();
      }
    },
    unlink: (x) => hfs.unlink(at(x)),
    rename: (a, b) => hfs.rename(at(a), at(b)),
    link: (a, b) => hfs.link(at(a), at(b)),
    symlink: (t, x) => hfs.symlink(t, at(x)),
    truncate: (x, n) => hfs.truncate(at(x), n),
    async snapshot() {
      const out = new Map<string, string>();
      const walk = async (dir: string, rel: string): Promise<void> => {
        for (const e of await hfs.readdir(dir, { withFileTypes: true })) {
          const full = join(dir, e.name);
          const r = rel ? `${rel}/${e.name}` : e.name;
          const st = await hfs.lstat(full);
          if (e.isDirectory()) {
            out.set(r, `dir nlink=${st.nlink}`);
            await walk(full, r);
          } else if (e.isSymbolicLink()) {
            out.set(r, `lnk -> ${await hfs.readlink(full)}`);
          } else {
            out.set(r, `reg nlink=${st.nlink} size=${st.size} sum=${checksum(await hfs.readFile(full))}`);
          }
        }
      };
      await walk(root, '');
      return out;
    },
  };
}

function checksum(b: Uint8Array): number {
  let h = 2166136261;
  for (const x of b) h = Math.imul(h ^ x, 16777619) >>> 0;
  return h;
}

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') throw e;
    return code;
  }
}

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const SEEDS = Number(process.env['TMPFS_DIFF_SEEDS'] ?? 8);
const STEPS = Number(process.env['TMPFS_DIFF_STEPS'] ?? 500);

for (let seed = 1; seed <= SEEDS; seed++) {
  test(`tmpfs and the host kernel agree on a random sequence of operations (seed ${seed})`, async () => {
    const tmp = await tempDir('anykernel-tmpfs-diff-');
    const kernel = await Kernel.boot({ components: [tmpfs] });
    try {
      const proc = kernel.newProc();
      await proc.mount('tmpfs', '/mnt', { options: 'size=16m' });
      const ours = kernelSide(proc);
      const theirs = hostSide(tmp.path);
      const r = rng(seed * 7919);
      const pick = <T>(xs: readonly T[]): T => xs[r(xs.length)]!;
      const log: string[] = [];
      for (let step = 0; step < STEPS; step++) {
        const kind = r(10);
        let desc: string;
        let run: (s: Side) => Promise<unknown>;
        const a = pick(PATHS);
        const b = pick(PATHS);
        switch (kind) {
          case 0:
          case 1:
            desc = `mkdir ${a}`;
            run = (s) => s.mkdir(a);
            break;
          case 2: {
            const len = r(3) === 0 ? r(20_000) : r(100);
            const data = new Uint8Array(len).map((_, i) => (i * 31 + step) & 255);
            desc = `create ${a} (${len})`;
            run = (s) => s.create(a, data);
            break;
          }
          case 3: {
            const off = r(30_000);
            const data = new Uint8Array(1 + r(5000)).fill(step & 255);
            desc = `pwrite ${a} @${off}+${data.length}`;
            run = (s) => s.pwrite(a, data, off);
            break;
          }
          case 4:
            desc = `rename ${a} ${b}`;
            run = (s) => s.rename(a, b);
            break;
          case 5:
            desc = `rmdir ${a}`;
            run = (s) => s.rmdir(a);
            break;
          case 6:
            desc = `unlink ${a}`;
            run = (s) => s.unlink(a);
            break;
          case 7:
            desc = `link ${a} ${b}`;
            run = (s) => s.link(a, b);
            break;
          case 8: {
            const t = pick(TARGETS);
            desc = `symlink ${t} ${a}`;
            run = (s) => s.symlink(t, a);
            break;
          }
          default: {
            const n = r(25_000);
            desc = `truncate ${a} ${n}`;
            run = (s) => s.truncate(a, n);
          }
        }
        const [o1, o2] = [await outcome(run(ours)), await outcome(run(theirs))];
        log.push(`${step}: ${desc} -> ${o2}`);
        if (!(await equivalent(tmp.path, desc, o1, o2))) assert.equal(o1, o2, `step ${step}: ${desc}: tmpfs says ${o1}, the host says ${o2}\n${log.slice(-15).join('\n')}`);
        if (step % 25 === 24) {
          assert.deepEqual(await ours.snapshot(), await theirs.snapshot(), `trees differ after step ${step}\n${log.slice(-15).join('\n')}`);
        }
      }
      assert.deepEqual(await ours.snapshot(), await theirs.snapshot());
      await proc.exit();
    } finally {
      await kernel.halt();
      await tmp.cleanup();
    }
  });
}
