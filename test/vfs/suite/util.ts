/**
 * Helpers for the cross-file-system suite: the shape of one case (a body run
 * by fsApply on every profile), short forms of common system-call sequences,
 * and assertions on errno codes and timestamps.
 */

import assert from 'node:assert/strict';
import type { FsApplyOptions, FsTestContext } from '../../../src/testing/fsapply.js';
import type { FsTestProfile } from '../../../src/testing/profile.js';
import type { SyscallApi, Stat } from '../../../src/vfs/syscalls.js';
import { O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY } from '../../../src/vfs/fcntl.js';
import type { Timespec } from '../../../src/vfs/types.js';

export type Body = (ctx: FsTestContext) => Promise<void>;

/** One case of the suite: registered with fsApply by the test files, and run directly by the harness self-test. */
export interface Case {
  name: string;
  body: Body;
  opts?: CaseOptions;
}

export interface CaseOptions extends FsApplyOptions {
  /** The body remounts and expects the data back: not applicable to components without a device (tmpfs). */
  persistent?: boolean;
  /** The body makes no change, so it also runs on read-only components. */
  readsOnly?: boolean;
  /** The body reads the fixture tree: made through the system calls where the file system is writable, else it must be in the profile's image. */
  fixture?: boolean;
}

/**
 * A profile whose `makeImage` returns an image already holding the suite's fixture tree (FIXTURE in
 * suite/fixture.ts) says so with `fixture: true` — the way a read-only component (ISO 9660) joins the
 * read-only bodies.
 */
export function hasFixture(profile: FsTestProfile): boolean {
  return (profile as FsTestProfile & { fixture?: boolean }).fixture === true;
}

export function tcase(name: string, body: Body, opts?: CaseOptions): Case {
  return opts === undefined ? { name, body } : { name, body, opts };
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Expects `p` to reject with the errno `code`. */
export async function fails(p: Promise<unknown>, code: string, what?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const got = (e as { code?: unknown }).code;
    assert.equal(got, code, `${what ?? 'call'}: expected ${code}, got ${String(got)} (${String(e)})`);
    return true;
  });
}

/** Expects `p` to reject with one of `codes`. */
export async function failsOneOf(p: Promise<unknown>, codes: string[], what?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const got = (e as { code?: unknown }).code;
    assert.ok(codes.includes(String(got)), `${what ?? 'call'}: expected one of ${codes.join('/')}, got ${String(got)} (${String(e)})`);
    return true;
  });
}

/** Deterministic bytes (a simple LCG), distinct per seed: the fixture's contents. */
export { fixturePattern as pattern } from '../../../src/testing/fixture.js';

export async function writeFile(p: SyscallApi, path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const fd = await p.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  try {
    const buf = typeof data === 'string' ? enc(data) : data;
    let done = 0;
    while (done < buf.length) {
      const n = await p.write(fd, buf.subarray(done));
      assert.ok(n > 0, 'write made no progress');
      done += n;
    }
  } finally {
    await p.close(fd);
  }
}

/** Reads the whole file at `path` (by size from fstat, then to end of file). */
export async function readFile(p: SyscallApi, path: string): Promise<Uint8Array> {
  const fd = await p.open(path, O_RDONLY);
  try {
    return await readFd(p, fd);
  } finally {
    await p.close(fd);
  }
}

export async function readFd(p: SyscallApi, fd: number): Promise<Uint8Array> {
  const size = (await p.fstat(fd)).size;
  const out = new Uint8Array(size + 1);
  let done = 0;
  for (;;) {
    const n = await p.pread(fd, out.subarray(done), done);
    if (n === 0) break;
    done += n;
    assert.ok(done <= size, `read past the size ${size}`);
  }
  return out.subarray(0, done);
}

export async function touch(p: SyscallApi, path: string, mode = 0o644): Promise<void> {
  const fd = await p.open(path, O_WRONLY | O_CREAT, mode);
  await p.close(fd);
}

export async function exists(p: SyscallApi, path: string): Promise<boolean> {
  try {
    await p.lstat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return false;
    throw e;
  }
}

export async function names(p: SyscallApi, dir: string): Promise<string[]> {
  return (await p.readdir(dir)).map((d) => d.name).sort();
}

export function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${what}: differs at byte ${i}: ${a[i]} != ${b[i]}`);
  }
}

export function isDir(st: Stat): boolean {
  return (st.mode & 0o170000) === 0o040000;
}
export function isReg(st: Stat): boolean {
  return (st.mode & 0o170000) === 0o100000;
}
export function isLnk(st: Stat): boolean {
  return (st.mode & 0o170000) === 0o120000;
}

/** A time well in the past, on an even second (FAT keeps 2-second mtimes). */
export const OLD: Timespec = { sec: 1_000_000_000, nsec: 0 };

export function tsCmp(a: Timespec, b: Timespec): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}

export function assertTsEq(a: Timespec, b: Timespec, what: string): void {
  assert.ok(tsCmp(a, b) === 0, `${what}: ${a.sec}.${a.nsec} != ${b.sec}.${b.nsec}`);
}

export function assertTsAfter(a: Timespec, b: Timespec, what: string): void {
  assert.ok(tsCmp(a, b) > 0, `${what}: ${a.sec}.${a.nsec} is not after ${b.sec}.${b.nsec}`);
}

/** Sets atime and mtime of `path` to OLD, so a later change of either shows. */
export async function age(p: SyscallApi, path: string): Promise<void> {
  await p.utimens(path, OLD, OLD);
}

/** Waits until the kernel clock has moved on by more than the profile's timestamp resolution (at most 20 ms). */
export async function tick(ctx: FsTestContext): Promise<void> {
  const res = Math.min(ctx.caps.timeResolutionNs ?? 1, 10_000_000);
  const start = ctx.kernel.services.now();
  for (let i = 0; i < 1000; i++) {
    await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(res / 1e6))));
    const now = ctx.kernel.services.now();
    if ((now.sec - start.sec) * 1e9 + (now.nsec - start.nsec) > res) return;
  }
  assert.fail('the kernel clock does not move');
}

/** `want` bytes, or less where the profile's largest file is smaller (with room for a little more). */
export function capSize(ctx: FsTestContext, want: number): number {
  const max = ctx.caps.maxFileSize;
  return max === undefined ? want : Math.min(want, Math.floor(max * 0.9));
}
