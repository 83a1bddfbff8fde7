/**
 * msdosfs against mtools on FAT32, both in the same run (target: faster than mtools for both):
 *
 * - extraction: the Linux tree from a FAT32 image made by mkfs.fat + mcopy -s (fixtures.linuxFat32) to a
 *   host directory, through an in-process kernel (walk.ts extractTree) against `mcopy -s -n -i IMG ::/* DIR`;
 * - filling: an empty 3 GiB FAT32 image made by mkfs.fat (the same command for both sides) filled with a
 *   tree, through the kernel (fillTreeNoLinks below, then unmount) against `mcopy -s -D o -i IMG ... ::/`
 *   (-D o: a name clashing in case only overwrites, as ours does); our image must pass `fsck.fat -n` (a note
 *   says when it does not). The whole Linux tree is filled: mcopy does that in well under a minute here, so
 *   no subset is needed (FILL_SUBSET can name one).
 *
 * What a side reads (the image, the tree) is read once before each timed run so that both sides find it
 * in the page cache. Both sides write their output
 * (the extracted trees, the images filled) in the same place: /dev/shm when that memory file system has
 * room for them (SHM_NEEDED), else os.tmpdir(); the result notes say which. In memory the comparison is
 * of the two programs, not of a host disk shared with other work, whose writeback made single runs vary by
 * 2x and more; the memory a side writes into is touched before it starts (prefault), so that neither pays
 * for the host backing fresh memory. Every timed side starts after `sync`. Each side runs ROUNDS * 2 times,
 * interleaved as ours, mcopy, mcopy, ours in each round, and the means are compared: this machine's speed
 * drifts by a third over tens of seconds, and interleaving spreads the drift over both sides. Each run's
 * output is removed after it, untimed, before the next run's preparation. Our fill ends with the image
 * synced (unmount), so mcopy's fill is timed with `sync IMG` after it (its time alone is in the note).
 *
 * Our side has both cores of the machine's two for a single mcopy process: the kernel runs on the main
 * thread, the host's file creation (extraction, one writer thread) or the host's reading (filling, one
 * reader thread) on the other.
 */

import { closeSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { MessageChannel, Worker } from 'node:worker_threads';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { msdosfs } from '../src/fs/msdosfs/index.js';
import { run } from '../src/testing/tools.js';
import { linuxFat32, linuxTree } from './fixtures.js';
import { withPeer, type Result } from './lib.js';
import { O_CREAT, O_TRUNC, O_WRONLY } from '../src/vfs/fcntl.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';
import { extractTree } from './walk.js';

/** mtools asks no questions and skips its geometry checks (mkfs.fat's FAT32 geometry is not a floppy's). */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };

/**
 * Free bytes /dev/shm needs for the work directory: one run's output at a time (an extracted tree, or a
 * 3 GiB image, sparse when made and about half filled by the end) and the prefault scratch, with room to spare.
 */
const SHM_NEEDED = 6 * 1024 ** 3;

/** Rounds of ours, mcopy, mcopy, ours: each side runs twice per round. */
const ROUNDS = 2;

/** Where the work directory goes: /dev/shm when it has SHM_NEEDED free, else os.tmpdir(). */
function workBase(): { dir: string; where: string; memory: boolean } {
  try {
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize >= SHM_NEEDED) return { dir: '/dev/shm', where: 'outputs in /dev/shm (tmpfs)', memory: true };
  } catch {
    // No /dev/shm: the temporary directory.
  }
  return { dir: tmpdir(), where: `outputs in ${tmpdir()} (no room in /dev/shm)`, memory: false };
}

/** More than either side writes into memory: the extracted tree, or the data filled into an image. */
const PREFAULT_BYTES = 1600 * 1024 * 1024;

/**
 * Touches the memory a side is about to write into: a scratch file of PREFAULT_BYTES written and removed
 * in `dir` (a memory file system). On a virtual machine the host backs guest memory lazily and takes back
 * memory that stayed free, and a first touch costs several times a copy (here 1.3 GB written to /dev/shm
 * took 3.6 s the first time and 0.6 s right after): without this, a side that ran after the other had
 * freed its pages was up to 2x faster, whichever program it was.
 */
function prefault(dir: string): void {
  const path = join(dir, 'prefault');
  const chunk = new Uint8Array(8 * 1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < PREFAULT_BYTES; ) done += writeSync(fd, chunk, 0, Math.min(chunk.length, PREFAULT_BYTES - done));
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

/** Directories of the Linux tree filled, each into the image's root (undefined: the whole tree). */
const FILL_SUBSET: string[] | undefined = undefined;

/** Slabs of file data in flight between the host reader and the kernel, and the bytes of each. */
const READ_SLABS = 4;
const READ_SLAB_BYTES = 8 * 1024 * 1024;
/** Bytes of a file read and written at a time (as mcopy does) rather than whole. */
const PIECE_BYTES = 1024 * 1024;
/** Operations at most in one batch (many small files fill a slab slowly). */
const READ_BATCH_OPS = 256;

/** What the host reader found: a directory entered (then its entries, then 'u'), or a piece of a file in the slab. */
type ReadOp =
  | { k: 'd'; name: string; mode: number }
  | { k: 'u' }
  | { k: 'f'; name: string; mode: number; off: number; len: number; first: boolean; last: boolean };

/**
 * The host reader (a worker thread, plain JavaScript so it runs without a build step): walks the host tree
 * with synchronous calls and sends batches of operations, file data in a slab: an ArrayBuffer handed over
 * (transferred) with the batch and handed back on `workerData.back` when the kernel side is done with it.
 * Not shared memory: V8 copies out of a SharedArrayBuffer with relaxed atomic loads, about 5x slower than a
 * plain copy, which would slow the kernel's write() of every byte. `state[0]` counts slabs handed back,
 * waited on when none is free (up to READ_SLABS exist); `state[1]` set tells the reader to stop. The host's
 * directory listing, stat, open, read and close run on this thread, the kernel's calls on the main one.
 */
const HOST_READER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const { slabs: n, slabBytes, pieceBytes, batchOps, back } = workerData;
const state = new Int32Array(workerData.state);
let made = 0, slab = null, used = 0, ops = [];
function take() {
  for (;;) {
    if (Atomics.load(state, 1) !== 0) throw new Error('stopped');
    const gen = Atomics.load(state, 0);
    const m = receiveMessageOnPort(back);
    if (m !== undefined) return m.message;
    if (made < n) { made++; return new ArrayBuffer(slabBytes); }
    Atomics.wait(state, 0, gen);
  }
}
function send() {
  if (slab === null) return;
  parentPort.postMessage({ slab, ops }, [slab]);
  slab = null; used = 0; ops = [];
}
function room(len) {
  if (slab !== null && (used + len > slab.byteLength || ops.length >= batchOps)) send();
  if (slab === null) slab = take();
  return new Uint8Array(slab, used, len);
}
function op(o) { room(0); ops.push(o); }
function walk(from) {
  for (const name of fs.readdirSync(from)) {
    const src = from + '/' + name;
    const link = fs.lstatSync(src);
    const st = link.isSymbolicLink() ? fs.statSync(src) : link;
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) {
      if (link.isSymbolicLink()) continue;
      op({ k: 'd', name, mode });
      walk(src);
      op({ k: 'u' });
    } else if (st.isFile()) {
      const fd = fs.openSync(src, 'r');
      try {
        // Up to the size stat gave (mcopy also copies what the size says).
        let pos = 0;
        for (;;) {
          const want = Math.min(pieceBytes, st.size - pos);
          const view = room(want);
          let got = 0;
          while (got < want) {
            const r = fs.readSync(fd, view, got, want - got, pos + got);
            if (r === 0) break;
            got += r;
          }
          pos += got;
          const last = got < want || pos >= st.size;
          ops.push({ k: 'f', name, mode, off: used, len: got, first: pos === got, last });
          used += got;
          if (last) break;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
  }
}
try {
  walk(workerData.root);
  send();
  parentPort.postMessage({ done: true });
} catch (e) {
  parentPort.postMessage({ error: String((e && e.message) || e) });
}
`;

/**
 * walk.ts fillTree for a file system without symbolic links, doing what `mcopy -s` does with them: a link to
 * a file is copied as that file, a link to a directory is skipped. A name that differs from an earlier one
 * only in case replaces it (O_TRUNC), as `mcopy -D o` does. Files are read and written in pieces of at most
 * PIECE_BYTES (as mcopy does) rather than whole. The host tree is read by a worker thread (HOST_READER) while
 * the kernel's calls run here, from inside each directory (chdir into it by its name and back with '..', so
 * that each file costs a one-name lookup); the process's working directory is put back at the end.
 */
export async function fillTreeNoLinks(p: SyscallApi, from: string, to: string): Promise<void> {
  const state = new Int32Array(new SharedArrayBuffer(8));
  const { port1: back, port2: backIn } = new MessageChannel();
  const reader = new Worker(HOST_READER, {
    eval: true,
    workerData: { root: from, slabs: READ_SLABS, slabBytes: READ_SLAB_BYTES, state: state.buffer, pieceBytes: PIECE_BYTES, batchOps: READ_BATCH_OPS, back: backIn },
    transferList: [backIn],
  });
  type Msg = { slab: ArrayBuffer; ops: ReadOp[] } | { done: true } | { error: string };
  const inbox: Msg[] = [];
  let wake: (() => void) | null = null;
  const post = (m: Msg) => {
    inbox.push(m);
    wake?.();
  };
  reader.on('message', post);
  reader.on('error', (e) => post({ error: e.message }));
  reader.on('exit', () => post({ error: 'the host reader stopped' }));
  const home = await p.getcwd();
  let fd = -1;
  try {
    await p.chdir(to);
    for (;;) {
      while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const m = inbox.shift()!;
      if ('done' in m) break;
      if ('error' in m) throw new Error(`fillTreeNoLinks: host read failed: ${m.error}`);
      const data = new Uint8Array(m.slab);
      for (const op of m.ops) {
        if (op.k === 'd') {
          try {
            await p.mkdir(op.name, op.mode);
          } catch (e) {
            // A directory named like an earlier one but for case: its files go into that one.
            if ((e as { code?: string }).code !== 'EEXIST') throw e;
          }
          await p.chdir(op.name);
        } else if (op.k === 'u') await p.chdir('..');
        else {
          if (op.first) fd = await p.open(op.name, O_CREAT | O_WRONLY | O_TRUNC, op.mode);
          if (op.len > 0) await p.write(fd, data.subarray(op.off, op.off + op.len));
          if (op.last) {
            const done = fd;
            fd = -1;
            await p.close(done);
          }
        }
      }
      back.postMessage(m.slab, [m.slab]);
      Atomics.add(state, 0, 1);
      Atomics.notify(state, 0);
    }
  } finally {
    if (fd >= 0) await p.close(fd).catch(() => undefined);
    reader.removeAllListeners('exit');
    Atomics.store(state, 1, 1);
    Atomics.add(state, 0, 1);
    Atomics.notify(state, 0);
    await reader.terminate();
    back.close();
    await p.chdir(home);
  }
}

/**
 * Times `fn` from a quiet start: what it reads (`warm`: a file or a tree) is read first so that it is in
 * the host's page cache (a host may page out cache that stayed unused for a while), the host's dirty
 * pages (the previous side's output) are written out, so neither side pays for the other's writeback,
 * and when the outputs go to memory, that memory is touched first (prefault). `before` (untimed) makes
 * what the run writes into; `after` (untimed) checks and removes it.
 */
async function timed(
  warm: string,
  base: { dir: string; memory: boolean },
  fn: () => Promise<unknown>,
  hooks: { before?: () => Promise<unknown>; after?: () => Promise<unknown> } = {},
): Promise<number> {
  await hooks.before?.();
  await run('sh', ['-c', `find '${warm}' -type f -print0 | xargs -0 cat > /dev/null`]);
  if (base.memory) prefault(base.dir);
  await run('sync', []);
  const t0 = performance.now();
  await fn();
  const t = (performance.now() - t0) / 1000;
  await hooks.after?.();
  return t;
}

/** Runs `fn` on a process of a fresh kernel with the FAT image `img` mounted on /mnt; unmounted (synced) and halted after. */
async function onMounted(img: string, readonly: boolean, fn: (p: SyscallApi) => Promise<unknown>): Promise<void> {
  const k = await Kernel.boot({ components: [msdosfs], host: new NodeHypercalls() });
  try {
    await k.etfs.register('/dev/img0', img, { readonly });
    const p = k.newProc();
    await p.mount('msdosfs', '/mnt', { source: '/dev/img0', readonly });
    await fn(p);
  } finally {
    await k.halt();
  }
}

async function mkfsFat32(img: string): Promise<void> {
  await rm(img, { force: true });
  await run('mkfs.fat', ['-F', '32', '-C', img, String(3 * 1024 * 1024)]);
}

/**
 * Runs two timed functions in ROUNDS rounds of a, b, b, a (so neither always runs first, and a drift of the
 * machine's speed falls on both) and returns their means, and a note with every time.
 */
async function interleaved(a: (i: number) => Promise<number>, b: (i: number) => Promise<number>): Promise<[number, number, string]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    as.push(await a(2 * r));
    bs.push(await b(2 * r));
    bs.push(await b(2 * r + 1));
    as.push(await a(2 * r + 1));
  }
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  return [mean(as), mean(bs), `ours ${list(as)} s; peer ${list(bs)} s`];
}

export async function msdosfsBenchmarks(): Promise<Result[]> {
  const img = await linuxFat32();
  const tree = await linuxTree();
  const out: Result[] = [];
  const base = workBase();
  const work = await mkdtemp(join(base.dir, 'akbench-msdos-'));
  const runs = ROUNDS * 2;
  try {
    const sources = (FILL_SUBSET ?? readdirSync(tree)).map((n) => join(tree, n));
    const what = FILL_SUBSET ? `the Linux tree's ${FILL_SUBSET.join(', ')}` : 'the Linux tree';

    // Extraction.
    const buf = new Uint8Array(1024 * 1024);
    const gone = (path: string) => () => rm(path, { recursive: true, force: true });
    const [ours, peer, xnote] = await interleaved(
      (i) =>
        timed(
          img,
          base,
          () => onMounted(img, true, (p) => extractTree(p, '/mnt', join(work, `ours${i}`), buf, { writers: 1 })),
          { after: gone(join(work, `ours${i}`)) },
        ),
      (i) =>
        timed(img, base, () => run('mcopy', ['-s', '-n', '-i', img, '::/*', join(work, `mtools${i}`)], { env: MTOOLS_ENV }), {
          before: async () => mkdirSync(join(work, `mtools${i}`)),
          after: gone(join(work, `mtools${i}`)),
        }),
    );
    out.push(withPeer({ name: `FAT32: extract the Linux tree to a host directory (mean of ${runs})`, value: ours, unit: 's', note: `${xnote}; ${base.where}` }, 'mcopy -s', peer));

    // Filling. Our unmount ends with fdatasync of the image; mcopy never syncs, so its image is synced
    // after it (coreutils `sync FILE`) and both times end with the image on disk. Each of our images is
    // checked with fsck.fat -n after its run.
    let mcopyAlone = 0;
    const fsckNotes: string[] = [];
    const [fill, mcopy, fnote] = await interleaved(
      (i) => {
        const ourImg = join(work, `ours${i}.fat32`);
        return timed(
          tree,
          base,
          () =>
            onMounted(ourImg, false, async (p) => {
              if (FILL_SUBSET === undefined) await fillTreeNoLinks(p, tree, '/mnt');
              else {
                for (const src of sources) {
                  const dst = `/mnt/${src.slice(src.lastIndexOf('/') + 1)}`;
                  await p.mkdir(dst, 0o755);
                  await fillTreeNoLinks(p, src, dst);
                }
              }
            }),
          {
            before: () => mkfsFat32(ourImg),
            after: async () => {
              const fsck = await run('fsck.fat', ['-n', ourImg], { allowFail: true });
              if (fsck.code !== 0) fsckNotes.push(`run ${i + 1}: fsck.fat -n exit ${fsck.code}: ${fsck.stdout.toString('utf8').trim().split('\n').slice(1, 4).join(' / ')}`);
              await rm(ourImg, { force: true });
            },
          },
        );
      },
      (i) => {
        const theirImg = join(work, `theirs${i}.fat32`);
        return timed(
          tree,
          base,
          async () => {
            const t0 = performance.now();
            await run('mcopy', ['-s', '-D', 'o', '-i', theirImg, ...sources, '::/'], { env: MTOOLS_ENV });
            mcopyAlone += (performance.now() - t0) / 1000 / runs;
            await run('sync', [theirImg]);
          },
          { before: () => mkfsFat32(theirImg), after: () => rm(theirImg, { force: true }) },
        );
      },
    );
    const r = withPeer({ name: `FAT32: fill an empty image (mkfs.fat) with ${what} (mean of ${runs})`, value: fill, unit: 's' }, 'mcopy -s + sync IMG', mcopy);
    r.note = [fnote, `mcopy -s alone ${mcopyAlone.toFixed(2)} s`, base.where, ...fsckNotes].join('; ');
    out.push(r);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
