/** Walking trees through a process's system calls: reading every file the way `tar` would, extracting to and filling from a host directory. */

import { mkdirSync, readdirSync, lstatSync, fstatSync, readlinkSync, readSync, symlinkSync, openSync, closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../src/vfs/fcntl.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';
import { openRead, openReadMany } from '../src/sysproxy/compound.js';

export interface WalkStats {
  files: number;
  dirs: number;
  bytes: number;
}

/** Reads every regular file under `root` with 1 MiB reads; stats everything. */
export async function readTree(p: SyscallApi, root: string): Promise<WalkStats> {
  const stats: WalkStats = { files: 0, dirs: 0, bytes: 0 };
  const buf = new Uint8Array(1024 * 1024);
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    stats.dirs++;
    for (const e of await p.readdir(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.type === 'dir') stack.push(path);
      else if (e.type === 'reg') {
        await p.lstat(path);
        const fd = await p.open(path, O_RDONLY);
        for (;;) {
          const n = await p.read(fd, buf);
          if (n === 0) break;
          stats.bytes += n;
          if (n < buf.length) break;
        }
        await p.close(fd);
        stats.files++;
      } else await p.lstat(path);
    }
  }
  return stats;
}

/**
 * What readTree does, through the compound openRead (src/sysproxy/compound.ts): a regular file is one
 * openRead (open + fstat + read of up to 1 MiB + close at end of file), plus reads and a close when it is
 * larger; what is neither a file nor a directory is lstat'ed. On a local Proc openRead is the separate
 * calls, so the work is readTree's with fstat in place of lstat; on a remote process it is one round trip.
 * `inFlight` workers share the walk (each with its own buffer): a worker takes a file when there is one,
 * else lists the next directory, so that many calls are in flight however the files spread over
 * directories. 1 is strictly one call at a time, as readTree.
 */
export async function readTreeCompound(p: SyscallApi, root: string, inFlight = 1): Promise<WalkStats> {
  const stats: WalkStats = { files: 0, dirs: 0, bytes: 0 };
  const dirs = [root];
  const files: string[] = [];
  // Directories being listed by some worker, and the workers waiting for what that listing finds.
  let listing = 0;
  let waiting: (() => void)[] = [];
  const readOne = async (path: string, buf: Uint8Array): Promise<void> => {
    const r = await openRead(p, path, buf);
    stats.bytes += r.n;
    if (r.fd >= 0) {
      try {
        for (;;) {
          const n = await p.read(r.fd, buf);
          if (n === 0) break;
          stats.bytes += n;
          if (n < buf.length) break;
        }
      } finally {
        await p.close(r.fd);
      }
    }
    stats.files++;
  };
  const list = async (dir: string): Promise<void> => {
    stats.dirs++;
    for (const e of await p.readdir(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.type === 'dir') dirs.push(path);
      else if (e.type === 'reg') files.push(path);
      else await p.lstat(path);
    }
  };
  const worker = async (): Promise<void> => {
    const buf = new Uint8Array(1024 * 1024);
    for (;;) {
      if (files.length > 0) await readOne(files.pop()!, buf);
      else if (dirs.length > 0) {
        listing++;
        try {
          await list(dirs.pop()!);
        } finally {
          listing--;
          const w = waiting;
          waiting = [];
          for (const wake of w) wake();
        }
      } else if (listing > 0) await new Promise<void>((r) => waiting.push(r));
      else return;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return stats;
}

/** Bytes of file data sent to a host writer in one message (a slab; a larger file goes in pieces). */
const SLAB_BYTES = 8 * 1024 * 1024;
/** Slabs at most in flight or being filled: bounds the memory an extraction holds. */
const SLABS = 8;
/** Operations at most in one message (many small files fill a slab slowly). */
const BATCH_OPS = 256;
/** Host writer threads by default: creations in different directories proceed in parallel on the host. */
const HOST_WRITERS = 2;

/** What a host writer does: make a directory or a symlink, or write a piece of a file from the slab. */
type HostOp =
  | { k: 'd'; path: string }
  | { k: 'l'; path: string; target: string }
  | { k: 'f'; path: string; mode: number; off: number; len: number; pos: number; create: boolean };

/**
 * A host writer (a worker thread, plain JavaScript so it runs without a build step): takes batches of
 * operations, does them in order with synchronous calls, sends the slab back, and after a failure only
 * reports it. Creating files on the host (a directory-entry and journal update each) costs more than
 * reading them from the image; on threads of their own the creations overlap the kernel's walk.
 * A batch may need directories another writer makes: `needs[w]` is how many batches writer w must have
 * finished first (its count in `progress`, shared memory, waited on with Atomics.wait).
 */
const HOST_WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const progress = new Int32Array(workerData.progress);
const self = workerData.index;
let failed = null;
parentPort.on('message', (m) => {
  for (let w = 0; w < m.needs.length; w++) {
    for (;;) {
      const have = Atomics.load(progress, w);
      if (have >= m.needs[w] || Atomics.load(progress, progress.length - 1) !== 0) break;
      Atomics.wait(progress, w, have, 1000);
    }
  }
  if (failed === null) {
    const data = m.slab === null ? new Uint8Array(0) : new Uint8Array(m.slab);
    for (const op of m.ops) {
      try {
        if (op.k === 'd') fs.mkdirSync(op.path);
        else if (op.k === 'l') fs.symlinkSync(op.target, op.path);
        else {
          const fd = fs.openSync(op.path, op.create ? 'w' : 'r+', op.mode);
          try {
            for (let at = 0; at < op.len; ) at += fs.writeSync(fd, data, op.off + at, op.len - at, op.pos + at);
          } finally {
            fs.closeSync(fd);
          }
        }
      } catch (e) {
        failed = String((e && e.message) || e);
        // The others must not wait for directories this writer will not make.
        Atomics.store(progress, progress.length - 1, 1);
        Atomics.notify(progress, self);
        break;
      }
    }
  }
  Atomics.add(progress, self, 1);
  Atomics.notify(progress, self);
  parentPort.postMessage({ slab: m.slab, failed }, m.slab === null ? [] : [m.slab]);
});
`;

/** A batch being filled or sent: where it went and its place in that writer's order, once sent. */
interface Batch {
  writer: number;
  seq: number;
}

/** What an operation under a directory must wait for: the batch that makes the directory. */
type DirReady = Batch | null;

/**
 * The walk's side of the host writers: fills slabs with file data and sends them with their operations
 * to the least busy writer. An operation inside a directory made in an earlier batch sent to another
 * writer makes its batch wait for that one (the pieces of one large file go to one writer, in order).
 */
class HostWriter {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  /** Batches sent to each writer. */
  private readonly sent: number[] = [];
  /** Batches finished by each writer, then a flag raised when one failed. */
  private readonly progress: Int32Array;
  private readonly free: ArrayBuffer[] = [];
  private made = 0;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private failed: Error | null = null;
  private dead = false;
  private slab: ArrayBuffer | null = null;
  private used = 0;
  private ops: HostOp[] = [];
  private batch: Batch = { writer: -1, seq: 0 };
  private needs: number[];
  /** The writer a file continued across slabs goes to (its pieces stay in order). */
  private pinned = -1;

  constructor(private readonly writers: number) {
    this.progress = new Int32Array(new SharedArrayBuffer(4 * (writers + 1)));
    this.needs = new Array<number>(writers).fill(0);
    const died = (e: Error) => {
      this.failed ??= e;
      this.dead = true;
      this.wake();
    };
    for (let i = 0; i < writers; i++) {
      const w = new Worker(HOST_WRITER, { eval: true, workerData: { progress: this.progress.buffer, index: i } });
      w.on('message', (m: { slab: ArrayBuffer | null; failed: string | null }) => {
        if (m.failed !== null) this.failed ??= new Error(`extractTree: host write failed: ${m.failed}`);
        if (m.slab !== null) this.free.push(m.slab);
        this.inFlight--;
        this.busy[i]!--;
        this.wake();
      });
      w.on('error', died);
      w.on('exit', () => {
        if (!this.dead) died(new Error('extractTree: a host writer stopped'));
      });
      this.workers.push(w);
      this.busy.push(0);
      this.sent.push(0);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Room for `len` bytes (at most SLAB_BYTES) in the current slab: its view at the free space. */
  async room(len: number, continued: boolean): Promise<Uint8Array> {
    if (this.failed) throw this.failed;
    if (this.slab !== null && (this.used + len > SLAB_BYTES || this.ops.length >= BATCH_OPS)) this.send(continued);
    while (this.slab === null) {
      if (this.free.length > 0) this.slab = this.free.pop()!;
      else if (this.made < SLABS) {
        this.slab = new ArrayBuffer(SLAB_BYTES);
        this.made++;
      } else {
        await new Promise<void>((r) => this.waiters.push(r));
        if (this.failed) throw this.failed;
      }
      this.used = 0;
    }
    return new Uint8Array(this.slab, this.used, len);
  }

  /**
   * Adds an operation inside the directory `dir` made ready (null: the root, made before the walk);
   * a file piece's bytes are the `len` bytes room() last returned. For a directory, returns what the
   * operations inside it wait for.
   */
  add(op: HostOp, dir: DirReady): DirReady {
    if (dir !== null && dir !== this.batch && dir.writer >= 0) this.needs[dir.writer] = Math.max(this.needs[dir.writer]!, dir.seq);
    if (op.k === 'f') {
      op.off = this.used;
      this.used += op.len;
    }
    this.ops.push(op);
    const made = op.k === 'd' ? this.batch : null;
    if (this.ops.length >= BATCH_OPS && op.k !== 'f') this.send(false);
    return made;
  }

  /** Sends the batch to the least busy writer, or to the pinned one when `continued` (the next piece follows). */
  private send(continued: boolean): void {
    let i = this.pinned;
    if (i < 0) {
      i = 0;
      for (let j = 1; j < this.workers.length; j++) if (this.busy[j]! < this.busy[i]!) i = j;
    }
    this.pinned = continued ? i : -1;
    const slab = this.slab;
    this.needs[i] = 0; // its own earlier batches are done first anyway
    this.workers[i]!.postMessage({ slab, ops: this.ops, needs: this.needs }, slab === null ? [] : [slab]);
    this.batch.writer = i;
    this.batch.seq = ++this.sent[i]!;
    this.batch = { writer: -1, seq: 0 };
    this.needs = new Array<number>(this.writers).fill(0);
    this.inFlight++;
    this.busy[i]!++;
    this.slab = null;
    this.ops = [];
  }

  /** Sends what is pending, waits for the writers to finish, and stops them. Throws the first host failure. */
  async close(): Promise<void> {
    try {
      if (this.ops.length > 0 && this.failed === null) this.send(false);
      while (this.inFlight > 0 && !this.dead) await new Promise<void>((r) => this.waiters.push(r));
    } finally {
      this.dead = true; // their exit now is ours
      Atomics.store(this.progress, this.writers, 1); // no writer waits any longer
      await Promise.all(this.workers.map((w) => w.terminate()));
    }
    if (this.failed) throw this.failed;
  }
}

/**
 * readTreeCompound with the files taken `batch` at a time through openReadMany (src/sysproxy/compound.ts):
 * one request reads many files (each up to 1 MiB, together up to 4 MiB, packed into the worker's batch buffer), the
 * rest of a longer file is read and closed as in readTreeCompound. On a local Proc openReadMany is
 * openRead file after file into one buffer per batch, so the in-process side does the same work; on a
 * remote process a batch is one round trip. `inFlight` workers share the walk.
 */
export async function readTreeBatched(p: SyscallApi, root: string, inFlight = 2, batch = 64): Promise<WalkStats> {
  const stats: WalkStats = { files: 0, dirs: 0, bytes: 0 };
  const dirs = [root];
  const files: string[] = [];
  let listing = 0;
  let waiting: (() => void)[] = [];
  const list = async (dir: string): Promise<void> => {
    stats.dirs++;
    for (const e of await p.readdir(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.type === 'dir') dirs.push(path);
      else if (e.type === 'reg') files.push(path);
      else await p.lstat(path);
    }
  };
  const readSome = async (paths: string[], buf: Uint8Array, batchBuf: Uint8Array): Promise<void> => {
    // The items' bytes land in the worker's own batch buffer, reused from batch to batch.
    const items = await openReadMany(p, paths, { buffer: batchBuf });
    // What the reply did not cover goes back to the queue.
    for (let i = paths.length - 1; i >= items.length; i--) files.push(paths[i]!);
    for (const it of items) {
      if ('error' in it) throw it.error;
      stats.bytes += it.n;
      if (it.fd >= 0) {
        try {
          for (;;) {
            const n = await p.read(it.fd, buf);
            if (n === 0) break;
            stats.bytes += n;
            if (n < buf.length) break;
          }
        } finally {
          await p.close(it.fd);
        }
      }
      stats.files++;
    }
  };
  const worker = async (): Promise<void> => {
    const buf = new Uint8Array(1024 * 1024);
    const batchBuf = new Uint8Array(4 * 1024 * 1024);
    for (;;) {
      // Keep listing while there are directories and too few files for a batch: batches stay full.
      if (dirs.length > 0 && files.length < batch) {
        listing++;
        try {
          await list(dirs.pop()!);
        } finally {
          listing--;
          const w = waiting;
          waiting = [];
          for (const wake of w) wake();
        }
      } else if (files.length > 0) await readSome(files.splice(Math.max(0, files.length - batch)), buf, batchBuf);
      else if (listing > 0) await new Promise<void>((r) => waiting.push(r));
      else return;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return stats;
}


/**
 * Copies the image's tree to a host directory (contents, modes, symlinks). The walk runs through the
 * kernel one call at a time, from inside each directory (chdir into it by its name and back with '..', so
 * that each step costs a one-name lookup: open, fstat, reads straight into an outgoing slab, close); directories, files and symlinks are
 * created by the host writers (`writers` threads, HOST_WRITERS by default). The process's working
 * directory is put back at the end.
 */
export async function extractTree(p: SyscallApi, from: string, to: string, buf: Uint8Array, opts: { writers?: number } = {}): Promise<void> {
  void buf; // file data goes straight into the host writers' slabs
  mkdirSync(to, { recursive: true });
  const home = await p.getcwd();
  const w = new HostWriter(Math.max(1, opts.writers ?? HOST_WRITERS));
  let ok = false;
  try {
    await p.chdir(from);
    await extractDir(p, to, w, null);
    ok = true;
  } finally {
    // After a failure in the walk, the writers are still stopped; their own failure then matters less.
    const closing = w.close();
    if (ok) await closing;
    else await closing.catch(() => undefined);
    await p.chdir(home);
  }
}

/** Extracts the working directory into `to`; a subdirectory is entered by its name and left by '..'. */
async function extractDir(p: SyscallApi, to: string, w: HostWriter, ready: DirReady): Promise<void> {
  for (const e of await p.readdir('.')) {
    // Names from the kernel hold no '/': a plain concatenation (path.join would normalise every one).
    const dst = `${to}/${e.name}`;
    if (e.type === 'dir') {
      const made = w.add({ k: 'd', path: dst }, ready);
      await p.chdir(e.name);
      await extractDir(p, dst, w, made);
      await p.chdir('..');
    } else if (e.type === 'lnk') {
      w.add({ k: 'l', path: dst, target: await p.readlink(e.name) }, ready);
    } else if (e.type === 'reg') {
      const fd = await p.open(e.name, O_RDONLY);
      try {
        const st = await p.fstat(fd);
        const mode = st.mode & 0o777;
        let pos = 0;
        for (;;) {
          const want = Math.min(SLAB_BYTES, st.size - pos);
          const view = await w.room(want, pos > 0);
          let n = 0;
          while (n < want) {
            const r = await p.read(fd, view.subarray(n));
            if (r === 0) break;
            n += r;
          }
          w.add({ k: 'f', path: dst, mode, off: 0, len: n, pos, create: pos === 0 }, ready);
          pos += n;
          if (n < want || pos >= st.size) break;
        }
      } finally {
        await p.close(fd);
      }
    }
  }
}

/** Copies a host tree into the image. */
export async function fillTree(p: SyscallApi, from: string, to: string): Promise<void> {
  await fillDir(p, from, to, { buf: new Uint8Array(1024 * 1024) });
}

/** One host read buffer for the whole copy (grown for large files): no allocation, and no garbage, per file. */
async function fillDir(p: SyscallApi, from: string, to: string, io: { buf: Uint8Array }): Promise<void> {
  // Entry types come with the listing; a file's mode comes from fstat of the descriptor it is read through
  // (no second path walk per file).
  for (const d of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, d.name);
    const dst = `${to}/${d.name}`;
    if (d.isDirectory()) {
      await p.mkdir(dst, lstatSync(src).mode & 0o7777);
      await fillDir(p, src, dst, io);
    } else if (d.isSymbolicLink()) await p.symlink(readlinkSync(src), dst);
    else if (d.isFile()) {
      const { data, mode } = readHostFile(src, io);
      const fd = await p.open(dst, O_CREAT | O_WRONLY, mode & 0o7777);
      if (data.length > 0) await p.write(fd, data);
      await p.close(fd);
    }
  }
}

/** The whole of a host file in `io.buf`, and its mode (the file may have changed size since its fstat: read to its end). */
function readHostFile(path: string, io: { buf: Uint8Array }): { data: Uint8Array; mode: number } {
  const fd = openSync(path, 'r');
  try {
    const { size, mode } = fstatSync(fd);
    if (io.buf.length < size + 1) io.buf = new Uint8Array(Math.max(size + 1, io.buf.length * 2));
    let n = 0;
    for (;;) {
      if (n === io.buf.length) {
        const bigger = new Uint8Array(io.buf.length * 2);
        bigger.set(io.buf);
        io.buf = bigger;
      }
      const got = readSync(fd, io.buf, n, io.buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return { data: io.buf.subarray(0, n), mode };
  } finally {
    closeSync(fd);
  }
}
