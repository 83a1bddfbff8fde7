/** Walking trees through a process's system calls: reading every file the way `tar` would, extracting to and filling from a host directory. */

import { mkdirSync, readdirSync, lstatSync, readlinkSync, readSync, writeFileSync, symlinkSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../src/vfs/fcntl.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';
import { openRead } from '../src/sysproxy/compound.js';

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
 * `inFlight` files of a directory are read at the same time (each with its own buffer): 1 is readTree's
 * strictly sequential order.
 */
export async function readTreeCompound(p: SyscallApi, root: string, inFlight = 1): Promise<WalkStats> {
  const stats: WalkStats = { files: 0, dirs: 0, bytes: 0 };
  const bufs = Array.from({ length: inFlight }, () => new Uint8Array(1024 * 1024));
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
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    stats.dirs++;
    const files: string[] = [];
    for (const e of await p.readdir(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.type === 'dir') stack.push(path);
      else if (e.type === 'reg') files.push(path);
      else await p.lstat(path);
    }
    let next = 0;
    const worker = async (buf: Uint8Array): Promise<void> => {
      while (next < files.length) await readOne(files[next++]!, buf);
    };
    await Promise.all(bufs.map(worker));
  }
  return stats;
}

/** Copies the image's tree to a host directory (contents, modes, symlinks). */
export async function extractTree(p: SyscallApi, from: string, to: string, buf: Uint8Array): Promise<void> {
  mkdirSync(to, { recursive: true });
  for (const e of await p.readdir(from)) {
    const src = `${from}/${e.name}`;
    const dst = join(to, e.name);
    if (e.type === 'dir') await extractTree(p, src, dst, buf);
    else if (e.type === 'lnk') symlinkSync(await p.readlink(src), dst);
    else if (e.type === 'reg') {
      const st = await p.stat(src);
      const fd = await p.open(src, O_RDONLY);
      const out = openSync(dst, 'w', st.mode & 0o777);
      try {
        for (;;) {
          const n = await p.read(fd, buf);
          if (n === 0) break;
          writeFileSync(out, buf.subarray(0, n));
          if (n < buf.length) break;
        }
      } finally {
        closeSync(out);
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
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = `${to}/${name}`;
    const st = lstatSync(src);
    if (st.isDirectory()) {
      await p.mkdir(dst, st.mode & 0o7777);
      await fillDir(p, src, dst, io);
    } else if (st.isSymbolicLink()) await p.symlink(readlinkSync(src), dst);
    else if (st.isFile()) {
      const data = readHostFile(src, st.size, io);
      const fd = await p.open(dst, O_CREAT | O_WRONLY, st.mode & 0o7777);
      if (data.length > 0) await p.write(fd, data);
      await p.close(fd);
    }
  }
}

/** The whole of a host file in `io.buf` (the file may have changed size since the lstat: read to its end). */
function readHostFile(path: string, size: number, io: { buf: Uint8Array }): Uint8Array {
  if (io.buf.length < size + 1) io.buf = new Uint8Array(Math.max(size + 1, io.buf.length * 2));
  const fd = openSync(path, 'r');
  try {
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
    return io.buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
