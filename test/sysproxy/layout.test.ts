/**
 * Layouts (src/sysproxy/layout.ts): for a read-only image the server may
 * answer a read with where the bytes lie, and the client reads them from its
 * own descriptor of the image. The caller must get exactly the bytes a local
 * kernel reads — small files, files longer than one reply, holes, a file in
 * hundreds of pieces, reads at odd offsets — in every isolation; never a
 * layout where the image's bytes are not the file's (a writable image, a
 * journal replayed in memory); and a layout the client was not handed the
 * image for, or that reaches past its end, is EIO.
 */

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, open as hostOpen, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startKernel } from '../../src/sysproxy/index.js';
import { openReadMany } from '../../src/sysproxy/compound.js';
import { ImageReader } from '../../src/sysproxy/layout.js';
import { isWireLayout } from '../../src/sysproxy/ops.js';
import { SysproxyClient, RemoteProc, type Backend } from '../../src/sysproxy/client.js';
import { Kind, PROTOCOL_VERSION } from '../../src/sysproxy/protocol.js';
import { localPair } from '../../src/sysproxy/transport.js';
import { KernelError } from '../../src/kern/error.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { SyscallApi } from '../../src/vfs/syscalls.js';
import { patternBytes } from '../../src/testing/prng.js';
import { run, tempDir } from '../../src/testing/tools.js';
import { uncleanImage } from '../fs/ext2fs/helpers.js';
import { localKernel } from './helpers.js';

const work = await tempDir('sysproxy-layout-');
after(() => work.cleanup());

const SIZES: [string, number][] = [
  ['empty', 0],
  ['small', 100],
  ['page', 4096],
  ['medium', 300_000],
  ['big', 3 * 1024 * 1024 + 123],
];
const FRAG_PIECES = 300;
let img = '';

/** Counts the layouts clients read while `fn` runs. */
async function countingLayouts<T>(fn: () => Promise<T>): Promise<{ value: T; layouts: number }> {
  const orig = ImageReader.prototype.read;
  let layouts = 0;
  ImageReader.prototype.read = function (this: ImageReader, l: number[], dst: Uint8Array) {
    layouts++;
    return orig.call(this, l, dst);
  };
  try {
    return { value: await fn(), layouts };
  } finally {
    ImageReader.prototype.read = orig;
  }
}

before(async () => {
  const tree = join(work.path, 'tree');
  await mkdir(tree);
  for (const [name, size] of SIZES) await writeFile(join(tree, name), patternBytes(size, size + 7));
  // Holes: 1 MiB of nothing, 10 bytes, nothing up to 2 MiB.
  const h = await hostOpen(join(tree, 'sparse'), 'w');
  await h.write(patternBytes(10, 99), 0, 10, 1 << 20);
  await h.truncate(2 << 20);
  await h.close();
  img = join(work.path, 'layout.ext4');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '32M']);
  // Two files written a block at a time in turn: each in hundreds of extents.
  const { kernel, newProc } = await localKernel([{ node: '/dev/img0', path: img, readonly: false }]);
  const p = await newProc();
  await p.mount('ext2fs', '/mnt', { source: '/dev/img0' });
  const a = await p.open('/mnt/frag1', O_CREAT | O_WRONLY, 0o644);
  const b = await p.open('/mnt/frag2', O_CREAT | O_WRONLY, 0o644);
  for (let i = 0; i < FRAG_PIECES; i++) {
    await p.write(a, patternBytes(4096, 1000 + i));
    await p.write(b, patternBytes(4096, 5000 + i));
    await p.fsync(a);
    await p.fsync(b);
  }
  await p.close(a);
  await p.close(b);
  await kernel.halt();
  await run('e2fsck', ['-fn', img]);
  const extents = (await run('debugfs', ['-R', 'ex /frag1', img])).stdout.toString().trim().split('\n').length - 1;
  assert.ok(extents > 256, `frag1 is in ${extents} extents, more than one layout answer holds`);
});

const NAMES = [...SIZES.map(([n]) => n), 'sparse', 'frag1', 'frag2'];

/** Every file read whole (openReadMany, then reads of what is left), and a few preads at odd offsets. */
async function readAllOf(p: SyscallApi): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const paths = NAMES.map((n) => `/mnt/${n}`);
  let rest = paths;
  while (rest.length > 0) {
    const items = await openReadMany(p, rest, { maxEach: 256 * 1024, maxTotal: 1 << 20 });
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if ('error' in it) throw it.error;
      const parts = [Buffer.from(it.data)];
      if (it.fd >= 0) {
        const buf = new Uint8Array(1 << 20);
        for (;;) {
          const n = await p.read(it.fd, buf);
          if (n === 0) break;
          parts.push(Buffer.from(buf.subarray(0, n)));
        }
        await p.close(it.fd);
      }
      out.set(rest[i]!, Buffer.concat(parts));
    }
    rest = rest.slice(items.length);
  }
  for (const [name, pos, len] of [['big', 4097, 100_000], ['sparse', (1 << 20) - 5, 40_000], ['frag2', 12345, 700_000], ['medium', 299_990, 65_536]] as const) {
    const fd = await p.open(`/mnt/${name}`, O_RDONLY);
    const buf = new Uint8Array(len);
    const n = await p.pread(fd, buf, pos);
    await p.close(fd);
    out.set(`pread ${name} ${pos}`, Buffer.from(buf.subarray(0, n)));
  }
  return out;
}

async function local(path: string): Promise<Map<string, Buffer>> {
  const { kernel, newProc } = await localKernel([{ node: '/dev/img0', path, readonly: true }]);
  try {
    const p = await newProc();
    await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
    return await readAllOf(p);
  } finally {
    await kernel.halt();
  }
}

for (const isolation of ['process', 'worker', 'trusted'] as const) {
  test(`isolation '${isolation}': a read-only image's files are read through layouts, byte for byte as a local kernel reads them`, async () => {
    const want = await local(img);
    assert.equal(want.get('/mnt/big')!.length, 3 * 1024 * 1024 + 123);
    assert.deepEqual(want.get('/mnt/sparse')!.subarray(1 << 20, (1 << 20) + 10), Buffer.from(patternBytes(10, 99)));
    for (const layouts of [true, false]) {
      const { value: got, layouts: used } = await countingLayouts(async () => {
        const rk = await startKernel({ images: [{ node: '/dev/img0', path: img, readonly: true }], isolation, layouts });
        try {
          const p = await rk.newProc();
          await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
          return await readAllOf(p);
        } finally {
          await rk.halt();
        }
      });
      assert.deepEqual([...got.keys()], [...want.keys()]);
      for (const [k, v] of want) assert.ok(got.get(k)!.equals(v), `${k} (layouts ${layouts})`);
      if (layouts) assert.ok(used > NAMES.length, `${used} layouts read`);
      else assert.equal(used, 0);
    }
  });
}

test('a writable image is never answered with layouts (the server may hold its newest bytes)', async () => {
  const copy = join(work.path, 'rw.ext4');
  await copyFile(img, copy);
  const want = await local(img);
  const { value: got, layouts } = await countingLayouts(async () => {
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: copy, readonly: false }] });
    try {
      const p = await rk.newProc();
      await p.mount('ext2fs', '/mnt', { source: '/dev/img0' });
      // Written and read back before anything reaches the image.
      const fd = await p.open('/mnt/small', O_WRONLY);
      await p.write(fd, Buffer.from('changed'));
      await p.close(fd);
      return await readAllOf(p);
    } finally {
      await rk.halt();
    }
  });
  assert.equal(layouts, 0);
  assert.equal(got.get('/mnt/small')!.subarray(0, 7).toString(), 'changed');
  assert.ok(got.get('/mnt/frag2')!.equals(want.get('/mnt/frag2')!));
});

test('a journal replayed in memory is read from memory, not from the image under it', async () => {
  const dir = join(work.path, 'unclean');
  await mkdir(dir);
  const unclean = await uncleanImage(dir);
  const { value, layouts } = await countingLayouts(async () => {
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: unclean, readonly: true }] });
    try {
      const p = await rk.newProc();
      await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
      const items = await openReadMany(p, ['/mnt/f', '/mnt/g']);
      return items.map((it) => ('error' in it ? it.error.code : Buffer.from(it.data).toString()));
    } finally {
      await rk.halt();
    }
  });
  assert.deepEqual(value, ['new f', 'old g']);
  assert.equal(layouts, 0);
});

/** A client with `img` as its one image, against a fake server answering openreadv with `items`. */
async function fakeServer(items: unknown[]): Promise<{ proc: RemoteProc; closed: number[]; backend: { killed: boolean } }> {
  const [c, s] = localPair();
  const closed: number[] = [];
  s.onMessage((m) => {
    if (m.kind === Kind.Hello) {
      s.send({ kind: Kind.Welcome, id: m.id, json: { version: PROTOCOL_VERSION, isolation: 'process', pid: 1 } });
      return;
    }
    const j = m.json as { op: string; a: unknown[] };
    if (j.op === 'close') {
      closed.push(j.a[0] as number);
      s.send({ kind: Kind.Result, id: m.id, json: { r: null } });
    } else s.send({ kind: Kind.Result, id: m.id, json: { r: items } });
  });
  const backend: Backend & { killed: boolean } = { channel: c, killed: false, kill: () => void (backend.killed = true), explain: async (r: string) => r, waitGone: async () => undefined };
  const client = new SysproxyClient(backend, 5000, new ImageReader([img]));
  await client.hello();
  return { proc: new RemoteProc(client, 1), closed, backend };
}

/** A stat as the compound replies carry it (ops.ts packStat). */
const stat = [1, 12, 0o100644, 1, 0, 0, 0, 4096, 4096, 8, 0, 0, 0, 0, 0, 0];
const isEio = (e: unknown): boolean => e instanceof KernelError && e.code === 'EIO';

test('a layout naming an image the client did not hand over, or reaching past its end, is EIO; the files are closed', async () => {
  const size = (await (await hostOpen(img, 'r')).stat()).size;
  for (const l of [[1, 0, 4096], [0, size - 100, 4096]]) {
    const { proc, closed } = await fakeServer([{ fd: 7, n: 4096, st: stat, l }]);
    await assert.rejects(proc.openReadMany(['/mnt/x'], { maxEach: 8192, maxTotal: 8192 }), isEio);
    assert.deepEqual(closed, [7]);
  }
  // A hole and a piece of the image: read, the hole as zeros.
  const { proc } = await fakeServer([{ fd: -1, n: 1024 + 512, st: stat, l: [-1, 0, 1024, 0, 1024, 512] }]);
  const [it] = await proc.openReadMany(['/mnt/x'], { maxEach: 8192, maxTotal: 8192 });
  assert.ok(it !== undefined && !('error' in it));
  const h = await hostOpen(img, 'r');
  const want = Buffer.alloc(512);
  await h.read(want, 0, 512, 1024);
  await h.close();
  assert.ok(Buffer.from(it.data).equals(Buffer.concat([Buffer.alloc(1024), want])));
});

test('a malformed layout is a protocol violation: the server is killed', async () => {
  for (const l of [[0, 0, 100], [0, -1, 4096], [0, 0, 0, 0, 0, 4096], [0, 0.5, 4096], [0, 0, 4096, 0]]) {
    assert.equal(isWireLayout(l, 4096), false, JSON.stringify(l));
    const { proc, backend } = await fakeServer([{ fd: -1, n: 4096, st: stat, l }]);
    await assert.rejects(proc.openReadMany(['/mnt/x'], { maxEach: 8192, maxTotal: 8192 }), isEio);
    assert.equal(backend.killed, true);
  }
  assert.equal(isWireLayout([0, 0, 4000, -1, 0, 96], 4096), true);
});
