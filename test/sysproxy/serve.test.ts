/**
 * `rump server` and RUMP_SERVER clients: a kernel served on a unix socket
 * or a loopback tcp port, in each isolation. Every connection has its own
 * processes (credentials, descriptors, cwd); what one connection leaves open
 * is closed when it goes; a client's halt stops the server.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from '../../src/testing/hostfs.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, parseServerUrl, serve } from '../../src/sysproxy/index.js';
import { KernelError } from '../../src/kern/error.js';
import { O_CREAT, O_RDWR } from '../../src/vfs/fcntl.js';

const code = (c: string) => (e: unknown) => e instanceof KernelError && e.code === c;

for (const isolation of ['process', 'worker', 'trusted'] as const) {
  test(`connections to a served kernel are separate processes (${isolation})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sysproxy-serve-'));
    const url = `unix://${join(dir, 'k.sock')}`;
    const srv = await serve({ images: [], listen: url, isolation });
    try {
      assert.equal((await stat(join(dir, 'k.sock'))).mode & 0o777, 0o600);
      const a = await connect(url);
      const b = await connect(url);
      assert.equal(a.isolation, isolation);
      const pa = await a.newProc();
      await pa.mount('tmpfs', '/mnt');
      await pa.chdir('/mnt');
      const fd = await pa.open('f', O_CREAT | O_RDWR, 0o600);
      await pa.write(fd, new Uint8Array([1, 2, 3]));
      const pb = await b.newProc({ uid: 1000, gid: 1000 });
      // Its own cwd, credentials and descriptor table.
      assert.equal(await pb.getcwd(), '/');
      assert.deepEqual(await pb.getcred(), { uid: 1000, gid: 1000, groups: [1000] });
      await assert.rejects(pb.fstat(fd), code('EBADF'));
      await assert.rejects(pb.open('/mnt/f', O_RDWR), code('EACCES'));
      // But the same kernel: b sees what a made.
      assert.equal((await pb.stat('/mnt/f')).size, 3);
      const pb0 = await b.newProc();
      await assert.rejects(pb0.unmount('/mnt'), code('EBUSY'));
      // a goes away without closing anything: its descriptor and cwd are released.
      (a as unknown as { kill(r: string): void }).kill('test: client gone');
      let unmounted = false;
      for (let i = 0; i < 50 && !unmounted; i++) {
        try {
          await pb0.unmount('/mnt');
          unmounted = true;
        } catch (e) {
          assert.ok(code('EBUSY')(e), String(e));
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.equal(unmounted, true, 'what the closed connection held was never released');
      // A client's halt stops the served kernel, and the serving side learns of it (rump server exits).
      const stopped = new Promise<string>((r) => srv.kernel.onDeath(r));
      await b.halt();
      const reason = await Promise.race([stopped, new Promise<string>((r) => setTimeout(() => r('no death within 10 s'), 10_000).unref())]);
      assert.doesNotMatch(reason, /no death/);
      await assert.rejects(connect(url).then((k) => k.newProc()), (e: unknown) => e instanceof KernelError);
    } finally {
      await srv.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('a kernel served on a loopback tcp port', async () => {
  const port = 20000 + (process.pid % 20000);
  const url = `tcp://127.0.0.1:${port}`;
  const srv = await serve({ images: [], listen: url });
  try {
    const k = await connect(url);
    const p = await k.newProc();
    assert.deepEqual(await p.readdir('/'), [
      { name: 'dev', ino: (await p.stat('/dev')).ino, type: 'dir' },
      { name: 'mnt', ino: (await p.stat('/mnt')).ino, type: 'dir' },
    ]);
  } finally {
    await srv.close();
  }
});

test('server urls: unix paths and loopback tcp only', () => {
  assert.deepEqual(parseServerUrl('unix:///run/k.sock'), { kind: 'unix', path: '/run/k.sock' });
  assert.deepEqual(parseServerUrl('/run/k.sock'), { kind: 'unix', path: '/run/k.sock' });
  assert.deepEqual(parseServerUrl('tcp://127.0.0.1:1234'), { kind: 'tcp', host: '127.0.0.1', port: 1234 });
  assert.throws(() => parseServerUrl('tcp://0.0.0.0:1234'), code('EINVAL'));
  assert.throws(() => parseServerUrl('tcp://127.0.0.1:99999'), code('EINVAL'));
  assert.throws(() => parseServerUrl('http://x'), code('EINVAL'));
});
