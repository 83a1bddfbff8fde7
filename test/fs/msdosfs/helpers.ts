/**
 * Shared helpers for the msdosfs tests: a generated host tree with long, mixed-case, non-ASCII names and
 * deep directories, images made by mkfs.fat and filled by mcopy -s, and a kernel walk of a mounted tree.
 */

import { mkdir, readFile, writeFile, readdir, stat } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeFileSync, rmSync } from 'node:fs';
import { Kernel } from '../../../src/kern/kernel.js';
import { MemoryHypercalls } from '../../../src/rumpuser/memory.js';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY } from '../../../src/vfs/fcntl.js';
import type { Proc } from '../../../src/vfs/proc.js';

/** A small deterministic PRNG (xorshift32), so every run builds the same tree. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** mtools configured like Linux and this driver: code page 437, times in UTC. */
const MTOOLSRC = join(tmpdir(), `msdosfs-mtoolsrc-${process.pid}`);
writeFileSync(MTOOLSRC, 'default_codepage=437\nmtools_skip_check=1\n');
process.on('exit', () => rmSync(MTOOLSRC, { force: true }));
export const MTOOLS_ENV = { TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', MTOOLSRC };

/** Pseudo-random bytes file contents are cut from. */
let PATTERN = Buffer.alloc(0);

const PARTS = ['Readme', 'data', 'Übersicht', 'résumé', '日本語', 'file', 'A Long Name With Spaces', 'x', 'MiXeD.CaSe', 'naïve', 'Ωmega', 'long-name-number', 'tar.gz', 'UPPER'];

/** Generates a tree of `files` files under `root` (directories of about `perDir` entries, depth up to `depth`). */
export async function makeTree(root: string, opts: { files: number; perDir?: number; depth?: number; seed?: number; maxSize?: number }): Promise<Map<string, Buffer | null>> {
  const rnd = prng(opts.seed ?? 1);
  const perDir = opts.perDir ?? 40;
  const depth = opts.depth ?? 6;
  const maxSize = opts.maxSize ?? 20000;
  const out = new Map<string, Buffer | null>();
  if (PATTERN.length < maxSize * 2) {
    PATTERN = Buffer.alloc(maxSize * 2);
    for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (rnd() * 256) | 0;
  }
  const dirs: { rel: string; depth: number; used: Set<string> }[] = [{ rel: '', depth: 0, used: new Set() }];
  let made = 0;
  let n = 0;
  const uniqueName = (d: { used: Set<string> }, isDir: boolean): string => {
    for (;;) {
      n++;
      const a = PARTS[Math.floor(rnd() * PARTS.length)]!;
      const b = PARTS[Math.floor(rnd() * PARTS.length)]!;
      let name = rnd() < 0.3 ? `${a}${n}` : rnd() < 0.5 ? `${a} ${b} ${n}` : `${a.toLowerCase()}_${n}.${isDir ? 'd' : 'txt'}`;
      if (rnd() < 0.05) name = `${name}-${'long'.repeat(20)}`.slice(0, 200);
      if (rnd() < 0.1) name = `F${n}.TXT`;
      if (rnd() < 0.05) name = `lower${n % 1000}.c`;
      // mtools stores a non-ASCII name that fits 8.3 as a lossy short name only; keep such names long.
      if (/[^\x00-\x7f]/.test(name) && name.length <= 12) name = `${name} (long)`;
      const fold = name.toUpperCase();
      if (!d.used.has(fold)) {
        d.used.add(fold);
        return name;
      }
    }
  };
  await mkdir(root, { recursive: true });
  while (made < opts.files) {
    const d = dirs[Math.floor(rnd() * dirs.length)]!;
    const full = d.used.size >= perDir;
    if (full && d.depth >= depth) continue;
    // A full directory still takes subdirectories, so the walk always finds room.
    if (d.depth < depth && (full || rnd() < 0.08)) {
      const name = uniqueName(d, true);
      const rel = d.rel ? `${d.rel}/${name}` : name;
      await mkdir(join(root, rel));
      out.set(rel, null);
      dirs.push({ rel, depth: d.depth + 1, used: new Set() });
      continue;
    }
    const name = uniqueName(d, false);
    const rel = d.rel ? `${d.rel}/${name}` : name;
    const size = rnd() < 0.1 ? 0 : Math.floor(rnd() * rnd() * maxSize);
    const start = Math.floor(rnd() * (PATTERN.length - size));
    const data = Buffer.from(PATTERN.subarray(start, start + size));
    await writeFile(join(root, rel), data);
    out.set(rel, data);
    made++;
  }
  return out;
}

/** Reads a host tree into a map rel -> contents (null for directories). */
export async function readHostTree(root: string): Promise<Map<string, Buffer | null>> {
  const out = new Map<string, Buffer | null>();
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.set(r, null);
        stack.push(r);
      } else out.set(r, await readFile(join(root, r)));
    }
  }
  return out;
}

/** An image made by mkfs.fat (-F type, size in KiB) and filled with mcopy -s from `src` (if given). */
export async function mtoolsImage(fatType: 12 | 16 | 32, sizeKiB: number, src?: string, label?: string): Promise<Uint8Array> {
  const t = await tempDir('msdosfs-');
  try {
    const img = join(t.path, 'fat.img');
    const args = ['-F', String(fatType), '-C'];
    if (label) args.push('-n', label);
    await run('mkfs.fat', [...args, img, String(sizeKiB)]);
    if (src) {
      const entries = await readdir(src);
      if (entries.length) await run('mcopy', ['-D', 's', '-s', '-m', '-i', img, ...entries.map((e) => join(src, e)), '::/'], { env: MTOOLS_ENV });
    }
    return await readImage(img);
  } finally {
    await t.cleanup();
  }
}

/** A kernel with msdosfs and the image registered at /dev/img0, mounted at /mnt. */
export async function mountImage(bytes: Uint8Array, opts: { readonly?: boolean; options?: string } = {}): Promise<{ kernel: Kernel; proc: Proc; host: MemoryHypercalls }> {
  const host = new MemoryHypercalls();
  const kernel = await Kernel.boot({ components: [msdosfs], host });
  host.addFile('image', bytes);
  await kernel.etfs.register('/dev/img0', 'image', { readonly: opts.readonly ?? false });
  const proc = kernel.newProc();
  await proc.mount('msdosfs', '/mnt', { source: '/dev/img0', readonly: opts.readonly ?? false, ...(opts.options ? { options: opts.options } : {}) });
  return { kernel, proc, host };
}

/** Reads a whole file through the system-call API. */
export async function readAll(proc: Proc, path: string): Promise<Buffer> {
  const st = await proc.stat(path);
  const buf = Buffer.alloc(st.size);
  const fd = await proc.open(path, O_RDONLY);
  try {
    let off = 0;
    while (off < st.size) {
      const n = await proc.pread(fd, buf.subarray(off), off);
      if (n === 0) break;
      off += n;
    }
    if (off !== st.size) throw new Error(`${path}: short read ${off}/${st.size}`);
    return buf;
  } finally {
    await proc.close(fd);
  }
}

/** Walks a mounted tree into a map rel -> contents (null for directories). */
export async function readKernelTree(proc: Proc, root: string): Promise<Map<string, Buffer | null>> {
  const out = new Map<string, Buffer | null>();
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    for (const e of await proc.readdir(rel ? `${root}/${rel}` : root)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.type === 'dir') {
        out.set(r, null);
        stack.push(r);
      } else out.set(r, await readAll(proc, `${root}/${r}`));
    }
  }
  return out;
}

/** Asserts two trees are equal, with a readable first difference. */
export function diffTrees(a: Map<string, Buffer | null>, b: Map<string, Buffer | null>): string | null {
  for (const [k, v] of a) {
    if (!b.has(k)) return `missing in second: ${k}`;
    const w = b.get(k)!;
    if ((v === null) !== (w === null)) return `type differs: ${k}`;
    if (v !== null && !v.equals(w!)) return `contents differ: ${k} (${v.length} vs ${w!.length} bytes)`;
  }
  for (const k of b.keys()) if (!a.has(k)) return `extra in second: ${k}`;
  return null;
}

export { stat };

/** Writes a tree (rel -> contents, null for directories) under `root` through the system-call API. */
export async function writeKernelTree(proc: Proc, tree: Map<string, Buffer | null>, root: string): Promise<void> {
  const rels = [...tree.keys()].sort((a, b) => a.split('/').length - b.split('/').length);
  for (const rel of rels) {
    const data = tree.get(rel)!;
    const p = `${root}/${rel}`;
    if (data === null) {
      await proc.mkdir(p, 0o755);
      continue;
    }
    const fd = await proc.open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o644);
    try {
      let off = 0;
      while (off < data.length) off += await proc.write(fd, data.subarray(off, Math.min(data.length, off + 65536)));
    } finally {
      await proc.close(fd);
    }
  }
}

/** fsck.fat -n on an image; resolves with its output, rejects (with the output) on a non-zero exit. */
export async function fsckFat(bytes: Uint8Array): Promise<string> {
  const t = await tempDir('msdosfs-fsck-');
  try {
    const img = join(t.path, 'fat.img');
    await writeFile(img, bytes);
    const r = await run('fsck.fat', ['-n', img], { allowFail: true });
    const out = `${r.stdout.toString('utf8')}${r.stderr}`;
    if (r.code !== 0) throw new Error(`fsck.fat -n exited ${r.code}:\n${out}`);
    return out;
  } finally {
    await t.cleanup();
  }
}

/** Extracts an image with mcopy -s into a fresh host directory and reads that tree. */
export async function mtoolsExtract(bytes: Uint8Array): Promise<Map<string, Buffer | null>> {
  const t = await tempDir('msdosfs-mcopy-');
  try {
    const img = join(t.path, 'fat.img');
    await writeFile(img, bytes);
    const dst = join(t.path, 'out');
    await mkdir(dst);
    await run('mcopy', ['-s', '-n', '-i', img, '::/*', dst], { env: MTOOLS_ENV, okCodes: [1] });
    return await readHostTree(dst);
  } finally {
    await t.cleanup();
  }
}

/** A device that keeps only the chunks written to it (for newfs on large sizes without large memory). */
export class SparseDevice {
  readonly sectorSize = 512;
  readonly readonly = false;
  readonly name = 'sparse';
  private readonly chunks = new Map<number, Uint8Array>();
  private static readonly CHUNK = 65536;
  constructor(readonly size: number) {}
  async read(buf: Uint8Array, off: number): Promise<void> {
    for (let i = 0; i < buf.length; ) {
      const c = Math.floor((off + i) / SparseDevice.CHUNK);
      const w = (off + i) % SparseDevice.CHUNK;
      const n = Math.min(SparseDevice.CHUNK - w, buf.length - i);
      const ch = this.chunks.get(c);
      if (ch) buf.set(ch.subarray(w, w + n), i);
      else buf.fill(0, i, i + n);
      i += n;
    }
  }
  async write(buf: Uint8Array, off: number): Promise<void> {
    for (let i = 0; i < buf.length; ) {
      const c = Math.floor((off + i) / SparseDevice.CHUNK);
      const w = (off + i) % SparseDevice.CHUNK;
      const n = Math.min(SparseDevice.CHUNK - w, buf.length - i);
      let ch = this.chunks.get(c);
      if (!ch) this.chunks.set(c, (ch = new Uint8Array(SparseDevice.CHUNK)));
      ch.set(buf.subarray(i, i + n), w);
      i += n;
    }
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * sleuthkit's view of an image: fls -r -p (allocated entries only) for names and types, and the contents
 * tsk_recover -a extracts (one process for every file; it leaves out empty files, which read as empty).
 */
export async function sleuthkitTree(bytes: Uint8Array, sample: (rel: string) => boolean): Promise<{ types: Map<string, 'd' | 'r'>; contents: Map<string, Buffer> }> {
  const t = await tempDir('msdosfs-tsk-');
  try {
    const img = join(t.path, 'fat.img');
    await writeFile(img, bytes);
    const r = await run('fls', ['-r', '-p', '-u', img]);
    const types = new Map<string, 'd' | 'r'>();
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const m = /^([-a-z])\/([-a-z])\s+(\*\s+)?(\d+)(?:\(realloc\))?:\t(.*)$/.exec(line);
      if (!m || m[3] || m[5]!.startsWith('$')) continue;
      types.set(m[5]!, m[2] === 'd' ? 'd' : 'r');
    }
    const out = join(t.path, 'recovered');
    await run('tsk_recover', ['-a', img, out]);
    const contents = new Map<string, Buffer>();
    for (const [rel, type] of types) {
      if (type !== 'r' || !sample(rel)) continue;
      contents.set(rel, await readFile(join(out, rel)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return Buffer.alloc(0);
        throw e;
      }));
    }
    return { types, contents };
  } finally {
    await t.cleanup();
  }
}
