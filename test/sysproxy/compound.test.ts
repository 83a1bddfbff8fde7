/**
 * The compound openRead (src/sysproxy/compound.ts): on a local process it is
 * the separate calls; remotely one request whose results must be the same —
 * status, bytes, whether the file is left open, errors with their call and
 * path, no descriptor leaked — in every isolation. The server checks the
 * request itself (flags, length), and the client does not believe a reply
 * that does not add up.
 */

import { test } from 'node:test';
import { patternBytes } from '../../src/testing/prng.js';
import assert from 'node:assert/strict';
import { startKernel } from '../../src/sysproxy/index.js';
import { openRead, openReadMany } from '../../src/sysproxy/compound.js';
import { SysproxyClient, RemoteProc, type Backend } from '../../src/sysproxy/client.js';
import { Kind, MAX_IO, PROTOCOL_VERSION, type Message } from '../../src/sysproxy/protocol.js';
import { localPair, type Channel } from '../../src/sysproxy/transport.js';
import { KernelError } from '../../src/kern/error.js';
import { O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY, O_NOFOLLOW } from '../../src/vfs/fcntl.js';
import type { Stat, SyscallApi } from '../../src/vfs/syscalls.js';
import { localKernel } from './helpers.js';

const pattern = patternBytes;

function digest(b: Uint8Array): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619) >>> 0;
  return `${b.length}:${h.toString(16)}`;
}

function st(s: Stat): Record<string, unknown> {
  const { dev: _d, atime: _a, mtime: _m, ctime: _c, birthtime: _b, ...rest } = s;
  return rest;
}

const FILES: [string, number][] = [
  ['empty', 0],
  ['small', 100],
  ['page', 4096],
  ['medium', 300_000],
  ['huge', MAX_IO + 1000],
];

/** Every case of openRead against one process; the log must be the same locally and remotely. */
async function scenario(p: SyscallApi): Promise<unknown[]> {
  const log: unknown[] = [];
  await p.mount('tmpfs', '/mnt', { options: 'size=64m' });
  await p.mkdir('/mnt/d', 0o755);
  await p.symlink('small', '/mnt/link');
  for (const [name, size] of FILES) {
    const fd = await p.open(`/mnt/${name}`, O_CREAT | O_WRONLY, 0o640);
    await p.write(fd, pattern(size, size + 1));
    await p.close(fd);
  }
  // The lowest free descriptor now; it must be free again after every case (nothing leaked).
  const probe = async () => {
    const fd = await p.open('/mnt/small', O_RDONLY);
    await p.close(fd);
    return fd;
  };
  const free = await probe();
  const cases: [string, string, number, number?][] = [
    ['empty, 1 MiB buffer', '/mnt/empty', 1 << 20],
    ['empty, no buffer', '/mnt/empty', 0],
    ['small, 1 MiB buffer', '/mnt/small', 1 << 20],
    ['small, exact buffer', '/mnt/small', 100],
    ['small, short buffer', '/mnt/small', 10],
    ['page, exact buffer', '/mnt/page', 4096],
    ['medium, 64 KiB buffer', '/mnt/medium', 65536],
    ['medium, 1 MiB buffer', '/mnt/medium', 1 << 20],
    ['huge, buffer past MAX_IO', '/mnt/huge', MAX_IO + 10],
    ['huge, exact buffer past MAX_IO', '/mnt/huge', MAX_IO + 1000],
    ['huge, larger buffer', '/mnt/huge', MAX_IO + 2000],
    ['through a symbolic link', '/mnt/link', 4096],
    ['O_NOFOLLOW on a symbolic link', '/mnt/link', 4096, O_NOFOLLOW],
    ['missing', '/mnt/nothing', 4096],
    ['directory', '/mnt/d', 4096],
    ['write-only flags', '/mnt/small', 4096, O_WRONLY],
    ['creating flags', '/mnt/new', 4096, O_CREAT],
    ['truncating flags', '/mnt/small', 4096, O_TRUNC],
  ];
  for (const [what, path, len, flags] of cases) {
    const buf = new Uint8Array(len);
    try {
      const r = await openRead(p, path, buf, flags);
      const entry: unknown[] = [what, r.fd === -1 ? 'closed' : 'open', r.n, digest(buf.subarray(0, r.n)), st(r.stat)];
      if (r.fd !== -1) {
        // The rest of the file, from where openRead left the offset.
        const rest = new Uint8Array(MAX_IO + 2000);
        const n = await p.read(r.fd, rest);
        entry.push('rest', n, digest(rest.subarray(0, n)));
        await p.close(r.fd);
      }
      log.push(entry);
    } catch (e) {
      assert.ok(e instanceof KernelError, `${what}: ${String(e)} is not a KernelError`);
      log.push([what, 'error', e.code, e.syscall, e.path]);
    }
    log.push([what, 'lowest free fd unchanged', (await probe()) === free]);
  }
  return log;
}

async function expected(): Promise<unknown[]> {
  const { kernel, newProc } = await localKernel();
  try {
    return await scenario(await newProc());
  } finally {
    await kernel.halt();
  }
}

test('openRead on a local process: the separate calls, closing at end of file', async () => {
  const log = await expected();
  const find = (what: string) => log.find((e) => Array.isArray(e) && e[0] === what) as unknown[];
  assert.deepEqual(find('small, 1 MiB buffer').slice(0, 4), ['small, 1 MiB buffer', 'closed', 100, digest(pattern(100, 101))]);
  assert.deepEqual(find('small, exact buffer').slice(0, 3), ['small, exact buffer', 'open', 100]);
  assert.deepEqual(find('small, short buffer').slice(0, 3), ['small, short buffer', 'open', 10]);
  assert.deepEqual(find('empty, no buffer').slice(0, 3), ['empty, no buffer', 'open', 0]);
  assert.deepEqual(find('huge, buffer past MAX_IO').slice(0, 3), ['huge, buffer past MAX_IO', 'open', MAX_IO + 10]);
  assert.deepEqual(find('huge, larger buffer').slice(0, 4), ['huge, larger buffer', 'closed', MAX_IO + 1000, digest(pattern(MAX_IO + 1000, MAX_IO + 1001))]);
  assert.deepEqual(find('missing'), ['missing', 'error', 'ENOENT', 'open', '/mnt/nothing']);
  assert.deepEqual(find('O_NOFOLLOW on a symbolic link').slice(0, 3), ['O_NOFOLLOW on a symbolic link', 'error', 'ELOOP']);
  assert.deepEqual(find('directory').slice(0, 4), ['directory', 'error', 'EISDIR', 'read']);
  assert.deepEqual(find('write-only flags').slice(0, 3), ['write-only flags', 'error', 'EINVAL']);
  assert.deepEqual(find('creating flags').slice(0, 3), ['creating flags', 'error', 'EINVAL']);
  for (const e of log) if (Array.isArray(e) && e[1] === 'lowest free fd unchanged') assert.equal(e[2], true, String(e[0]));
});

for (const isolation of ['trusted', 'process'] as const) {
  test(`openRead in isolation '${isolation}' gives the local results in one request`, async () => {
    const want = await expected();
    const rk = await startKernel({ images: [], isolation });
    try {
      const got = await scenario(await rk.newProc());
      assert.deepEqual(got, want);
    } finally {
      await rk.halt();
    }
  });
}

/**
 * A client of a real server on a local kernel, and a process of it with tmpfs on /mnt: for requests sent
 * straight through call(), past RemoteProc's own checks.
 */
async function direct(): Promise<{ client: SysproxyClient; pid: number; p: RemoteProc; close: () => Promise<void> }> {
  const [c, s] = localPair();
  const { kernel } = await localKernel();
  const { KernelServer } = await import('../../src/sysproxy/server.js');
  new KernelServer(kernel, { isolation: 'trusted' }).attach(s);
  const backend: Backend = { channel: c, kill: () => c.close('killed'), explain: async (r) => r, waitGone: async () => undefined };
  const client = new SysproxyClient(backend, 5000);
  const close = async () => {
    await client.halt().catch(() => undefined);
    await kernel.halt().catch(() => undefined);
  };
  try {
    await client.hello();
    const pid = (await client.call(undefined, 'newproc', [{}])).r as number;
    const p = new RemoteProc(client, pid);
    await p.mount('tmpfs', '/mnt');
    return { client, pid, p, close };
  } catch (e) {
    await close();
    throw e;
  }
}

test('the server checks an openread request itself: flags that write, a length past MAX_IO', async () => {
  const { client, pid, p, close } = await direct();
  try {
    const fd = await p.open('/mnt/f', O_CREAT | O_WRONLY, 0o644);
    await p.close(fd);
    // Straight through call(), past RemoteProc's own check.
    await assert.rejects(client.call(pid, 'openread', ['/mnt/f', O_WRONLY, 10]), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
    await assert.rejects(client.call(pid, 'openread', ['/mnt/f', O_RDONLY | O_TRUNC, 10]), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
    await assert.rejects(client.call(pid, 'openread', ['/mnt/f', O_RDONLY, MAX_IO + 1]), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
    await assert.rejects(client.call(pid, 'openread', ['/mnt/f', O_RDONLY, -1]), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
    await assert.rejects(client.call(pid, 'openread', ['/mnt/f', 'x', 10]), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
    // The file is still there and unchanged; the server is alive.
    assert.equal((await p.stat('/mnt/f')).size, 0);
    assert.equal(client.dead, false);
  } finally {
    await close();
  }
});

/** A fake server answering each call with `answer`, recording the ops it saw. */
async function against(answer: (m: Message, ch: Channel, op: string) => void): Promise<{ proc: RemoteProc; deaths: string[]; ops: string[]; killed: () => boolean }> {
  const [c, s] = localPair();
  const ops: string[] = [];
  s.onMessage((m) => {
    if (m.kind === Kind.Hello) s.send({ kind: Kind.Welcome, id: m.id, json: { version: PROTOCOL_VERSION, isolation: 'process', pid: 1 } });
    else {
      const op = String((m.json as { op?: unknown }).op);
      ops.push(op);
      answer(m, s, op);
    }
  });
  let killed = false;
  const backend: Backend = { channel: c, kill: () => (killed = true), explain: async (r) => r, waitGone: async () => undefined };
  const client = new SysproxyClient(backend, 5000);
  const deaths: string[] = [];
  client.onDeath((r) => deaths.push(r));
  await client.hello();
  return { proc: new RemoteProc(client, 1), deaths, ops, killed: () => killed };
}

/** A stat as the compound replies carry it (ops.ts packStat): size at index 7. */
const STAT = [1, 2, 0o100644, 1, 0, 0, 0, 5, 4096, 8, 0, 0, 0, 0, 0, 0];
const withSize = (size: unknown): unknown[] => STAT.map((v, i) => (i === 7 ? size : v));
const isEio = (e: unknown) => e instanceof KernelError && e.code === 'EIO';

test('an openread reply that does not add up kills the server: only EIO reaches the caller', async () => {
  const bad: [string, unknown, Uint8Array | undefined][] = [
    ['n is not the payload length', { fd: -1, n: 9, st: STAT }, new Uint8Array(5)],
    ['a malformed status', { fd: -1, n: 5, st: withSize('big') }, new Uint8Array(5)],
    ['a status in the object form', { fd: -1, n: 5, st: { dev: 1, ino: 2, size: 5 } }, new Uint8Array(5)],
    ['a status of 17 numbers', { fd: -1, n: 5, st: [...STAT, 1] }, new Uint8Array(5)],
    ['a fractional nanosecond', { fd: -1, n: 5, st: STAT.map((v, i) => (i === 11 ? 0.5 : v)) }, new Uint8Array(5)],
    ['a descriptor below -1', { fd: -2, n: 5, st: STAT }, new Uint8Array(5)],
    ['more bytes than asked', { fd: -1, n: 20, st: STAT }, new Uint8Array(20)],
    ['not an object', 7, undefined],
  ];
  for (const [what, r, data] of bad) {
    const { proc, deaths, killed } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r }, ...(data ? { data } : {}) }));
    await assert.rejects(proc.openRead('/x', new Uint8Array(10)), isEio, what);
    if (what !== 'more bytes than asked') {
      assert.match(deaths[0] ?? '', /protocol violation/, what);
      assert.equal(killed(), true, what);
    }
    await assert.rejects(proc.getcwd(), what === 'more bytes than asked' ? () => true : isEio);
  }
});

test('a file the server leaves open short of the buffer is read on and closed by the client', async () => {
  const content = pattern(50, 3);
  let offset = 10;
  const { proc, ops } = await against((m, s, op) => {
    if (op === 'openread') s.send({ kind: Kind.Result, id: m.id, json: { r: { fd: 4, n: 10, st: withSize(10) } }, data: content.subarray(0, 10) });
    else if (op === 'read') {
      const want = (m.json as { a: number[] }).a[1]!;
      const piece = content.subarray(offset, Math.min(content.length, offset + want));
      offset += piece.length;
      s.send({ kind: Kind.Result, id: m.id, json: { r: piece.length }, data: piece });
    } else s.send({ kind: Kind.Result, id: m.id, json: { r: null } });
  });
  const buf = new Uint8Array(100);
  const r = await proc.openRead('/x', buf);
  assert.equal(r.fd, -1);
  assert.equal(r.n, 50);
  assert.deepEqual(buf.subarray(0, 50), content);
  assert.deepEqual(ops, ['openread', 'read', 'close']);
});

/** openReadMany over a list that needs several requests (small maxTotal), the items logged as the scenario does. */
async function manyScenario(p: SyscallApi): Promise<unknown[]> {
  const log: unknown[] = [];
  await p.mount('tmpfs', '/mnt', { options: 'size=64m' });
  await p.mkdir('/mnt/d', 0o755);
  const sizes = [0, 1, 100, 4095, 4096, 5000, 70_000, 200_000];
  for (const n of sizes) {
    const fd = await p.open(`/mnt/f${n}`, O_CREAT | O_WRONLY, 0o644);
    await p.write(fd, pattern(n, n + 7));
    await p.close(fd);
  }
  const probe = async () => {
    const fd = await p.open('/mnt/f1', O_RDONLY);
    await p.close(fd);
    return fd;
  };
  const free = await probe();
  const all = [...sizes.map((n) => `/mnt/f${n}`), '/mnt/missing', '/mnt/d', '/mnt/f100'];
  // The caller's own buffer (reused from call to call) for one configuration, and one shorter than maxTotal.
  const reused = new Uint8Array(4 << 20);
  for (const [maxEach, maxTotal, buffer] of [[65536, 100_000, undefined], [4096, 4096, undefined], [1 << 20, 4 << 20, reused], [1, 1, undefined], [65536, 1 << 20, reused.subarray(0, 9000)]] as const) {
    let todo = [...all];
    let requests = 0;
    while (todo.length > 0) {
      const items = await openReadMany(p, todo, { maxEach, maxTotal, ...(buffer ? { buffer } : {}) });
      if (buffer) for (const it of items) if (!('error' in it)) assert.equal(it.data.buffer, reused.buffer);
      requests++;
      assert.ok(items.length >= 1 && items.length <= todo.length);
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        if ('error' in it) {
          log.push([maxEach, todo[i], 'error', it.error.code, it.error.syscall, it.error.path]);
          continue;
        }
        const entry: unknown[] = [maxEach, todo[i], it.fd === -1 ? 'closed' : 'open', it.n, digest(it.data), st(it.stat)];
        if (it.fd !== -1) {
          const rest = new Uint8Array(1 << 20);
          const n = await p.read(it.fd, rest);
          entry.push('rest', n, digest(rest.subarray(0, n)));
          await p.close(it.fd);
        }
        log.push(entry);
      }
      todo = todo.slice(items.length);
    }
    log.push([maxEach, maxTotal, 'requests', requests]);
  }
  log.push(['lowest free fd unchanged', (await probe()) === free]);
  await assert.rejects(openReadMany(p, ['/mnt/f1'], { flags: O_WRONLY }), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
  await assert.rejects(openReadMany(p, ['/mnt/f1'], { buffer: new Uint8Array(0) }), (e: unknown) => e instanceof KernelError && e.code === 'EINVAL');
  return log;
}

test('openReadMany: the same items locally and in every isolation, a prefix per request, errors per file', async () => {
  const { kernel, newProc } = await localKernel();
  let want: unknown[];
  try {
    want = await manyScenario(await newProc());
  } finally {
    await kernel.halt();
  }
  const find = (f: (e: unknown[]) => boolean) => want.filter((e) => Array.isArray(e) && f(e)) as unknown[][];
  assert.deepEqual(find((e) => e[1] === '/mnt/missing').map((e) => e.slice(2)), Array(5).fill(['error', 'ENOENT', 'open', '/mnt/missing']));
  assert.deepEqual(find((e) => e[1] === '/mnt/d').map((e) => e.slice(2, 5)), Array(5).fill(['error', 'EISDIR', 'read']));
  // 4096 bytes a request cannot hold the files at once: several requests, each covering a prefix;
  // the 1-byte limit leaves every non-empty file open.
  assert.ok((find((e) => e[2] === 'requests' && e[0] === 4096)[0]![3] as number) > 1);
  assert.equal(find((e) => e[2] === 'requests' && e[0] === 1 << 20)[0]![3], 1);
  assert.ok(find((e) => e[0] === 1 && e[2] !== 'requests' && e[2] !== 'error' && typeof e[3] === 'number' && (e[3] as number) > 0).every((e) => e[2] === 'open'));
  assert.deepEqual(find((e) => e[0] === 'lowest free fd unchanged'), [['lowest free fd unchanged', true]]);
  for (const isolation of ['trusted', 'process'] as const) {
    const rk = await startKernel({ images: [], isolation });
    try {
      assert.deepEqual(await manyScenario(await rk.newProc()), want, isolation);
    } finally {
      await rk.halt();
    }
  }
});

test('the server checks an openreadv request: no paths, too many, limits out of range, flags that write', async () => {
  const { client, pid, close } = await direct();
  try {
    const einval = (e: unknown) => e instanceof KernelError && e.code === 'EINVAL';
    await assert.rejects(client.call(pid, 'openreadv', [[], O_RDONLY, 10, 10]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [Array(4097).fill('/x'), O_RDONLY, 10, 10]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [['/x', 3], O_RDONLY, 10, 10]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [['/x'], O_RDONLY, 20, 10]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [['/x'], O_RDONLY, 10, MAX_IO + 1]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [['/x'], O_RDONLY, 0, 10]), einval);
    await assert.rejects(client.call(pid, 'openreadv', [['/x'], O_WRONLY | O_CREAT, 10, 10]), einval);
    assert.equal(client.dead, false);
  } finally {
    await close();
  }
});

test('an openreadv reply that does not add up: EIO, and the server killed when it breaks the protocol', async () => {
  const one = { fd: -1, n: 5, st: STAT };
  const bad: [string, unknown, Uint8Array | undefined, boolean][] = [
    ['sizes that do not add up to the payload', [one, one], new Uint8Array(7), true],
    ['an empty list', [], undefined, true],
    ['an error that is not an object', [{ e: 'ENOENT' }], undefined, true],
    ['an item that is neither', [{ fd: 1 }], undefined, true],
    ['more files than asked', [one, one], new Uint8Array(10), false],
    ['more bytes than a file may have', [{ ...one, n: 50 }], new Uint8Array(50), false],
  ];
  for (const [what, r, data, fatal] of bad) {
    const { proc, deaths, killed } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r }, ...(data ? { data } : {}) }));
    await assert.rejects(proc.openReadMany(['/x'], { maxEach: 10, maxTotal: 100 }), isEio, what);
    assert.equal(killed(), fatal, what);
    if (fatal) assert.match(deaths[0] ?? '', /protocol violation/, what);
  }
  // An unknown errno in one item is EIO for that file only.
  const { proc } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r: [{ e: { code: 'EWHAT' } }, one] }, data: pattern(5, 1) }));
  const items = await proc.openReadMany(['/a', '/b']);
  assert.ok('error' in items[0]! && items[0].error.code === 'EIO' && items[0].error.path === '/a');
  assert.ok(!('error' in items[1]!) && items[1].n === 5);
});

test('the packed status of the compound replies unpacks to the same Stat, birth time or not', async () => {
  const { packStat, unpackStat, checkResult } = await import('../../src/sysproxy/ops.js');
  const base: Stat = {
    dev: 7, ino: 2 ** 40 + 3, mode: 0o100640, nlink: 3, uid: 1000, gid: 100, rdev: 0, size: 2 ** 33 + 1, blksize: 4096, blocks: 17,
    atime: { sec: -5, nsec: 1 }, mtime: { sec: 2 ** 34, nsec: 999_999_999 }, ctime: { sec: 1_700_000_000, nsec: 500 },
  };
  for (const st of [base, { ...base, birthtime: { sec: 12, nsec: 34 } }]) {
    const packed = packStat(st);
    assert.deepEqual(unpackStat(JSON.parse(JSON.stringify(packed)) as number[]), st);
    assert.ok(checkResult('openread', { fd: -1, n: 0, st: packed }, 0));
  }
});

/** readdirPlus and lstatMany on a small tree: what the listing and the lstats say, and each failure. */
async function listScenario(p: SyscallApi): Promise<unknown[]> {
  await p.mount('tmpfs', '/mnt', { options: 'size=8m' });
  await p.mkdir('/mnt/d', 0o750);
  await p.mkdir('/mnt/d/sub', 0o700);
  for (const [name, size] of [['a', 10], ['b', 0], ['c', 5000]] as const) {
    const fd = await p.open(`/mnt/d/${name}`, O_CREAT | O_WRONLY, 0o640);
    await p.write(fd, pattern(size, 3));
    await p.close(fd);
  }
  await p.symlink('a', '/mnt/d/link');
  const { readdirPlus, lstatMany } = await import('../../src/sysproxy/compound.js');
  const log: unknown[] = [];
  const plus = await readdirPlus(p, '/mnt/d');
  log.push(plus.entries.map((e) => [e.name, e.type]), plus.stats.map((s) => (s === null ? null : st(s))));
  const few = await readdirPlus(p, '/mnt/d/', 2);
  log.push(few.entries.length, few.stats.length);
  const sts = await lstatMany(p, ['/mnt/d/a', '/mnt/d/nothing', '/mnt/d/link', '/mnt/d/a/x']);
  log.push(sts.map((s) => (s instanceof KernelError ? [s.code, s.syscall, s.path] : st(s))));
  await assert.rejects(readdirPlus(p, '/mnt/d/a'), (e: unknown) => e instanceof KernelError && e.code === 'ENOTDIR');
  await assert.rejects(readdirPlus(p, '/mnt/none'), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
  return log;
}

/** Runs `scenario` on a process of a local kernel and on one of a kernel in `isolation`: the logs must agree. */
async function sameAsLocal(isolation: 'trusted' | 'process', scenario: (p: SyscallApi) => Promise<unknown[]>): Promise<void> {
  const { kernel, newProc } = await localKernel();
  let want: unknown[];
  try {
    want = await scenario(await newProc());
  } finally {
    await kernel.halt();
  }
  const rk = await startKernel({ images: [], isolation });
  try {
    assert.deepEqual(await scenario(await rk.newProc()), want);
  } finally {
    await rk.halt();
  }
}

for (const isolation of ['trusted', 'process'] as const) {
  test(`readdirPlus and lstatMany in isolation '${isolation}' answer as the separate calls on a local kernel`, () => sameAsLocal(isolation, listScenario));
}

test('lstatv and readdirplus replies that do not fit what was asked: EIO, the server killed when malformed', async () => {
  const cases: [string, string, unknown, boolean][] = [
    ['lstatv: fewer results than paths', 'lstatv', [STAT], false],
    ['lstatv: a status in the object form', 'lstatv', [{ size: 5 }, STAT], true],
    ['readdirplus: more stats than entries', 'readdirplus', { d: [], s: [STAT] }, true],
    ['readdirplus: a bad entry type', 'readdirplus', { d: [{ name: 'x', ino: 2, type: 'weird' }], s: [] }, true],
  ];
  for (const [what, op, r, fatal] of cases) {
    const { proc, killed } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r } }));
    const call = op === 'lstatv' ? proc.lstatMany(['/a', '/b']) : proc.readdirPlus('/d');
    await assert.rejects(call, isEio, what);
    assert.equal(killed(), fatal, what);
  }
});

test('a listing too large for one message is E2BIG, and the server lives on: getdents reads it in pieces', async () => {
  const { fixture } = await import('./helpers.js');
  const { readdirPlus } = await import('../../src/sysproxy/compound.js');
  const { BIGDIR_FILES } = await import('./fixtures/bigdir.js');
  const rk = await startKernel({ images: [], isolation: 'process', extraComponentModules: [fixture('bigdir')] });
  try {
    const p = await rk.newProc();
    await p.mount('bigdirfs', '/mnt');
    const isE2big = (e: unknown): boolean => e instanceof KernelError && e.code === 'E2BIG';
    await assert.rejects(readdirPlus(p, '/mnt'), isE2big);
    await assert.rejects(p.readdir('/mnt'), isE2big);
    const fd = await p.open('/mnt', O_RDONLY);
    let n = 0;
    for (;;) {
      const batch = await p.getdents(fd, 4096);
      if (batch.length === 0) break;
      n += batch.filter((d) => d.name !== '.' && d.name !== '..').length;
    }
    await p.close(fd);
    assert.equal(n, BIGDIR_FILES);
    assert.equal(rk.dead, false);
  } finally {
    await rk.halt();
  }
});

/** putFiles on a small tree: what each file ends up as (bytes, mode, owner, times), and each failure in its place. */
async function putScenario(p: SyscallApi): Promise<unknown[]> {
  await p.mount('tmpfs', '/mnt', { options: 'size=8m' });
  await p.mkdir('/mnt/d', 0o755);
  const { putFiles } = await import('../../src/sysproxy/compound.js');
  const t = { sec: 1_600_000_000, nsec: 123_456_789 };
  const errs = await putFiles(p, [
    { path: '/mnt/d/plain', mode: 0o644, data: pattern(5000, 1) },
    { path: '/mnt/none/f', mode: 0o644, data: pattern(10, 4) },
    { path: '/mnt/d/attrs', mode: 0o600, data: pattern(70_000, 2), attrs: { uid: 12, gid: 34, perm: 0o4751, atime: t, mtime: t } },
    { path: '/mnt/d/plain/f', mode: 0o644, data: pattern(10, 4) },
    { path: '/mnt/d/empty', mode: 0o644, data: new Uint8Array(0), attrs: { perm: 0o600 } },
  ]);
  const log: unknown[] = [errs.map((e) => (e === null ? null : [e.code, e.syscall, e.path]))];
  // An existing file is truncated and rewritten.
  log.push(await putFiles(p, [{ path: '/mnt/d/plain', mode: 0o644, data: pattern(10, 3) }]));
  for (const name of ['plain', 'attrs', 'empty']) {
    const s = await p.lstat(`/mnt/d/${name}`);
    const fd = await p.open(`/mnt/d/${name}`, O_RDONLY);
    const buf = new Uint8Array(s.size + 1);
    const n = await p.read(fd, buf);
    await p.close(fd);
    log.push([name, s.mode, s.uid, s.gid, s.size, digest(buf.subarray(0, n)), name === 'attrs' ? [s.atime, s.mtime] : null]);
  }
  const einval = (e: unknown) => e instanceof KernelError && e.code === 'EINVAL';
  await assert.rejects(putFiles(p, [{ path: '/mnt/d/big', mode: 0o644, data: new Uint8Array(1024 * 1024 + 1) }]), einval);
  await assert.rejects(putFiles(p, []), einval);
  await assert.rejects(putFiles(p, Array.from({ length: 257 }, (_, i) => ({ path: `/mnt/d/n${i}`, mode: 0o644, data: new Uint8Array(1) }))), einval);
  await assert.rejects(putFiles(p, Array.from({ length: 5 }, (_, i) => ({ path: `/mnt/d/m${i}`, mode: 0o644, data: new Uint8Array(1024 * 1024) }))), einval);
  // Nothing left open.
  const fd = await p.open('/mnt/d/plain', O_RDONLY);
  await p.close(fd);
  log.push(fd);
  return log;
}

for (const isolation of ['trusted', 'process'] as const) {
  test(`putFiles in isolation '${isolation}' leaves what the separate calls on a local kernel leave`, () => sameAsLocal(isolation, putScenario));
}

test('the server checks a putfilev request itself: sizes that do not add up, limits, attributes that are not what they say', async () => {
  const { client, pid, p, close } = await direct();
  const isEinval = (e: unknown) => e instanceof KernelError && e.code === 'EINVAL';
  const meta = (a: unknown = null, n = 3) => ({ m: [0o644], n: [n], a: [a] });
  try {
    // Straight through call(), past the client's own checks.
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/big'], meta(null, 1024 * 1024 + 1)], new Uint8Array(1024 * 1024 + 1)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f'], meta(null, 4)], new Uint8Array(3)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f'], meta(null, 2)], new Uint8Array(3)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f', '/mnt/g'], meta()], new Uint8Array(3)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f'], { m: [0o644], n: [3] }], new Uint8Array(3)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f'], { m: ['x'], n: [3], a: [null] }], new Uint8Array(3)), isEinval);
    await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f']], new Uint8Array(3)), isEinval);
    for (const attrs of [{ uid: 'root' }, { perm: 1.5 }, { mtime: { sec: 1 } }, { atime: { sec: 1, nsec: 1e9 } }, { owner: 1 }, [1]]) {
      await assert.rejects(client.call(pid, 'putfilev', [['/mnt/f'], meta(attrs)], new Uint8Array(3)), isEinval, JSON.stringify(attrs));
    }
    // Nothing was made by a refused request, and the server lives on.
    await assert.rejects(p.lstat('/mnt/f'), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
    await assert.rejects(p.lstat('/mnt/big'), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
    assert.equal(client.dead, false);
  } finally {
    await close();
  }
});

test('a putfilev reply that does not fit what was asked: EIO', async () => {
  for (const r of [[null, null], [{ e: { code: 'EIO' }, x: 1 }], [3]]) {
    const { proc, killed } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r } }));
    const { putFiles } = await import('../../src/sysproxy/compound.js');
    await assert.rejects(putFiles(proc, [{ path: '/f', mode: 0o644, data: new Uint8Array(1) }]), isEio, JSON.stringify(r));
    if (r.length === 1) assert.equal(killed(), true, JSON.stringify(r));
  }
});

test('a server that does not know putfilev: the client makes the separate calls, and goes on making them', async () => {
  const { proc, deaths, ops } = await against((m, s, op) => {
    const reply = (r: unknown) => s.send({ kind: Kind.Result, id: m.id, json: { r } });
    if (op === 'putfilev') s.send({ kind: Kind.Error, id: m.id, json: { code: 'ENOSYS', detail: 'sysproxy: unknown system call putfilev' } });
    else if (op === 'open') reply(5);
    else if (op === 'write') reply(m.data?.length ?? 0);
    else reply(null);
  });
  const { putFiles } = await import('../../src/sysproxy/compound.js');
  const errs = await putFiles(proc, [
    { path: '/f', mode: 0o644, data: new Uint8Array(10), attrs: { perm: 0o600, atime: { sec: 1, nsec: 0 }, mtime: { sec: 1, nsec: 0 } } },
    { path: '/g', mode: 0o644, data: new Uint8Array(3) },
  ]);
  await putFiles(proc, [{ path: '/h', mode: 0o644, data: new Uint8Array(1) }]);
  assert.deepEqual(errs, [null, null]);
  assert.deepEqual(ops, ['putfilev', 'open', 'write', 'fchmod', 'futimens', 'close', 'open', 'write', 'close', 'open', 'write', 'close']);
  assert.deepEqual(deaths, []);
});
