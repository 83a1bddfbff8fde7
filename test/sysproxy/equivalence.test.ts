/**
 * The same system calls give the same results on a local kernel and on a
 * remote one, in every isolation and over a unix socket: a scenario of
 * ordinary and failing calls runs against each, and its log (results,
 * errors with code/syscall/path/message, data read back) must equal the
 * local kernel's.
 */

import { test } from 'node:test';
import { patternBytes } from '../../src/testing/prng.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from '../../src/testing/hostfs.js';
import { connect, serve, startKernel, type RemoteKernel } from '../../src/sysproxy/index.js';
import { KernelError } from '../../src/kern/error.js';
import { O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, O_WRONLY, O_EXCL, SEEK_END, SEEK_SET, R_OK, W_OK } from '../../src/vfs/fcntl.js';
import type { SyscallApi, Stat } from '../../src/vfs/syscalls.js';
import { localKernel } from './helpers.js';

type NewProc = (cred?: { uid?: number; gid?: number; groups?: number[] }) => Promise<SyscallApi>;

/** Stat without what legitimately differs between two kernels (device ids, times nobody set). */
function st(s: Stat, keepTimes = false): Record<string, unknown> {
  const { dev: _dev, atime, mtime, ctime, birthtime: _b, ...rest } = s;
  return keepTimes ? { ...rest, atime, mtime } : rest;
}

const pattern = patternBytes;

function digest(b: Uint8Array): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619) >>> 0;
  return `${b.length}:${h.toString(16)}`;
}

async function scenario(newProc: NewProc): Promise<unknown[]> {
  const log: unknown[] = [];
  const p = await newProc();
  async function rec(what: string, f: () => Promise<unknown>): Promise<unknown> {
    try {
      const r = await f();
      log.push([what, r === undefined ? 'ok' : r]);
      return r;
    } catch (e) {
      assert.ok(e instanceof KernelError, `${what}: ${String(e)} is not a KernelError`);
      log.push([what, 'error', e.code, e.errno, e.syscall, e.path, e.message]);
      return undefined;
    }
  }
  await rec('mount', () => p.mount('tmpfs', '/mnt', { options: 'size=64m' }));
  await rec('mkdir', () => p.mkdir('/mnt/d', 0o750));
  await rec('mkdir again', () => p.mkdir('/mnt/d', 0o750));
  await rec('umask', () => p.umask(0o022));
  const fd = (await rec('create', () => p.open('/mnt/d/f', O_CREAT | O_RDWR | O_EXCL, 0o666))) as number;
  // Larger than one protocol chunk (16 MiB), so the client splits it.
  const big = pattern(17 * 1024 * 1024 + 123, 7);
  await rec('write big', () => p.write(fd, big));
  await rec('lseek end', () => p.lseek(fd, 0, SEEK_END));
  await rec('pwrite', () => p.pwrite(fd, pattern(5000, 9), 4096 * 3 + 1));
  await rec('fstat', async () => st(await p.fstat(fd)));
  await rec('lseek set', () => p.lseek(fd, 0, SEEK_SET));
  const back = new Uint8Array(big.length + 10);
  await rec('read all', async () => {
    const n = await p.read(fd, back);
    return [n, digest(back.subarray(0, n))];
  });
  const small = new Uint8Array(6000);
  await rec('pread', async () => [await p.pread(fd, small, 4096 * 3), digest(small)]);
  await rec('pread past end', async () => p.pread(fd, small, big.length + 100));
  await rec('dup', async () => {
    const d = await p.dup(fd);
    await p.close(d);
    return 'dup ok';
  });
  await rec('close', () => p.close(fd));
  await rec('close again', () => p.close(fd));
  await rec('read closed', () => p.read(fd, small));
  await rec('create excl again', () => p.open('/mnt/d/f', O_CREAT | O_WRONLY | O_EXCL, 0o600));
  await rec('open missing', () => p.open('/mnt/d/missing', O_RDONLY));
  await rec('open file as dir', () => p.open('/mnt/d/f', O_RDONLY | O_DIRECTORY));
  await rec('stat', async () => st(await p.stat('/mnt/d/f')));
  await rec('stat through file', () => p.stat('/mnt/d/f/x'));
  await rec('symlink', () => p.symlink('d/f', '/mnt/l'));
  await rec('readlink', () => p.readlink('/mnt/l'));
  await rec('lstat', async () => st(await p.lstat('/mnt/l')));
  await rec('link', () => p.link('/mnt/d/f', '/mnt/d/g'));
  await rec('rename', () => p.rename('/mnt/d/g', '/mnt/h'));
  await rec('rename missing', () => p.rename('/mnt/nope', '/mnt/h2'));
  await rec('chmod', () => p.chmod('/mnt/h', 0o640));
  await rec('chown', () => p.chown('/mnt/h', 1000, 100));
  await rec('utimens', () => p.utimens('/mnt/h', { sec: 1_000_000_000, nsec: 5 }, { sec: 1_200_000_000, nsec: 7 }));
  await rec('stat times', async () => st(await p.stat('/mnt/h'), true));
  await rec('truncate', () => p.truncate('/mnt/h', 100));
  await rec('access', () => p.access('/mnt/h', R_OK | W_OK));
  await rec('mknod fifo', () => p.mknod('/mnt/fifo', 0o010644));
  await rec('readdir', async () => (await p.readdir('/mnt')).sort((a, b) => a.name.localeCompare(b.name)));
  await rec('getdents', async () => {
    const dfd = await p.open('/mnt', O_RDONLY | O_DIRECTORY);
    const all = [];
    for (;;) {
      const batch = await p.getdents(dfd, 2);
      if (batch.length === 0) break;
      all.push(...batch);
    }
    await p.close(dfd);
    return all.map((d) => d.name).sort();
  });
  await rec('setxattr', () => p.setxattr('/mnt/h', 'user.k', new Uint8Array([1, 2, 3])));
  await rec('getxattr', async () => [...(await p.getxattr('/mnt/h', 'user.k'))]);
  await rec('listxattr', () => p.listxattr('/mnt/h'));
  await rec('rmdir nonempty', () => p.rmdir('/mnt/d'));
  await rec('unlink dir', () => p.unlink('/mnt/d'));
  await rec('chdir', () => p.chdir('/mnt/d'));
  await rec('getcwd', () => p.getcwd());
  await rec('relative stat', async () => st(await p.stat('f')));
  await rec('statvfs', async () => {
    const { fsid: _f, ...rest } = await p.statvfs('/mnt');
    return rest;
  });
  await rec('getcred', () => p.getcred());
  // Another process with its own credentials, descriptor table and cwd.
  const q = await newProc({ uid: 1000, gid: 1000 });
  await rec('user getcwd', () => q.getcwd());
  await rec('user mkdir in root dir', () => q.mkdir('/mnt/u'));
  await rec('user open root-only dir', () => q.open('/mnt/d/f', O_RDONLY));
  await rec('user fstat foreign fd', () => q.fstat(3));
  await rec('user getcred', () => q.getcred());
  await rec('busy unmount', () => p.unmount('/mnt'));
  await rec('chdir /', () => p.chdir('/'));
  await rec('unlink', () => p.unlink('/mnt/d/f'));
  await rec('unmount', () => p.unmount('/mnt'));
  return log;
}

let oracle: unknown[] | undefined;

async function expected(): Promise<unknown[]> {
  if (oracle) return oracle;
  const { kernel, newProc } = await localKernel();
  oracle = await scenario(newProc);
  if (process.env["SYSPROXY_DUMP"]) console.error(JSON.stringify(oracle));
  await kernel.halt();
  return oracle;
}

async function runRemote(rk: RemoteKernel): Promise<unknown[]> {
  try {
    return await scenario((cred) => rk.newProc(cred));
  } finally {
    await rk.halt();
  }
}

for (const isolation of ['trusted', 'worker', 'process'] as const) {
  test(`system calls give the local kernel's results in isolation '${isolation}'`, async () => {
    const want = await expected();
    const rk = await startKernel({ images: [], isolation });
    assert.equal(rk.isolation, isolation);
    const deaths: string[] = [];
    rk.onDeath((r) => deaths.push(r));
    const got = await runRemote(rk);
    assert.deepEqual(got, want);
    // halt() is not a death; afterwards the kernel is gone and calls answer EIO.
    assert.deepEqual(deaths, []);
    assert.equal(rk.dead, true);
    await assert.rejects(rk.newProc(), (e: unknown) => e instanceof KernelError && e.code === 'EIO');
  });
}

test('system calls give the local kernel\'s results over a unix socket (rump server)', async () => {
  const want = await expected();
  const dir = await mkdtemp(join(tmpdir(), 'sysproxy-sock-'));
  const sock = join(dir, 'kernel.sock');
  const srv = await serve({ images: [], listen: `unix://${sock}` });
  try {
    const rk = await connect(`unix://${sock}`);
    assert.equal(rk.isolation, 'process');
    const p = await rk.newProc();
    const got = await scenario((cred) => rk.newProc(cred));
    assert.deepEqual(got, want);
    await p.getcwd();
  } finally {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
});
