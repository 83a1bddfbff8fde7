/**
 * The watchdog and server death: a request that gets no answer within
 * timeoutMs gets the server killed; that call and every later one answer
 * EIO (a KernelError), onDeath hears why, and the server process is gone.
 * Test-only components make the server misbehave (fixtures/hang.ts).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKernel, type RemoteKernel } from '../../src/sysproxy/index.js';
import { KernelError } from '../../src/kern/error.js';
import { O_RDONLY } from '../../src/vfs/fcntl.js';
import { fixture, withTimeout } from './helpers.js';

function isEio(e: unknown): boolean {
  return e instanceof KernelError && e.code === 'EIO';
}

function deathOf(rk: RemoteKernel): Promise<string> {
  return new Promise((res) => rk.onDeath(res));
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

for (const isolation of ['process', 'worker'] as const) {
  test(`a read that never answers gets the ${isolation} server killed; this and later calls answer EIO`, async () => {
    const rk = await startKernel({ images: [], isolation, timeoutMs: 800, extraComponentModules: [fixture('hang')] });
    const death = deathOf(rk);
    const p = await rk.newProc();
    await p.mount('hangfs', '/mnt', { readonly: true });
    // Calls that answer keep the server alive, however many there are.
    const buf = new Uint8Array(64);
    const fd = await p.open('/mnt/slow', O_RDONLY);
    for (let i = 0; i < 5; i++) assert.equal(await p.pread(fd, buf, 0), 5);
    const stuck = await p.open('/mnt/stuck', O_RDONLY);
    const t0 = Date.now();
    await assert.rejects(withTimeout(p.read(stuck, buf), 10_000, 'stuck read'), (e: unknown) => isEio(e) && /watchdog/.test((e as KernelError).detail ?? ''));
    assert.ok(Date.now() - t0 >= 700, 'the watchdog fired before its bound');
    const reason = await withTimeout(death, 5000, 'onDeath');
    assert.match(reason, /watchdog: read got no answer within 800 ms/);
    assert.equal(rk.dead, true);
    await assert.rejects(p.stat('/mnt/slow'), (e: unknown) => isEio(e) && (e as KernelError).syscall === 'stat' && (e as KernelError).path === '/mnt/slow');
    await assert.rejects(rk.newProc(), isEio);
    await assert.rejects(rk.control.consoleLines(), isEio);
    if (isolation === 'process') {
      const pid = (rk as unknown as { serverPid: number }).serverPid;
      assert.ok(pid > 0 && pid !== process.pid);
      assert.equal(await gone(pid), true, 'the server process is still there');
    }
    await assert.rejects(rk.halt(), isEio);
  });
}

test('a mount that never yields to the event loop gets the server killed', async () => {
  const rk = await startKernel({ images: [], timeoutMs: 800, extraComponentModules: [fixture('hang')] });
  const death = deathOf(rk);
  const p = await rk.newProc();
  await assert.rejects(withTimeout(p.mount('spinfs', '/mnt'), 10_000, 'spinning mount'), (e: unknown) => isEio(e) && (e as KernelError).syscall === 'mount');
  assert.match(await death, /watchdog: mount/);
  assert.equal(await gone((rk as unknown as { serverPid: number }).serverPid), true);
});

for (const isolation of ['process', 'worker'] as const) {
  test(`a ${isolation} server that exceeds its heap limit dies; the client answers EIO and says why`, async () => {
    const rk = await startKernel({ images: [], isolation, memlimitMiB: 48, timeoutMs: 60_000, extraComponentModules: [fixture('hang')] });
    const death = deathOf(rk);
    const p = await rk.newProc();
    await assert.rejects(withTimeout(p.mount('hogfs', '/mnt'), 30_000, 'hogging mount'), isEio);
    assert.match(await death, /heap limit \(48 MiB\)/);
    await assert.rejects(p.getcwd(), isEio);
  });
}

test('a server killed from outside is a death with the signal named', async () => {
  const rk = await startKernel({ images: [] });
  const death = deathOf(rk);
  const p = await rk.newProc();
  assert.equal(await p.getcwd(), '/');
  process.kill((rk as unknown as { serverPid: number }).serverPid, 'SIGKILL');
  assert.match(await withTimeout(death, 5000, 'onDeath'), /killed by SIGKILL/);
  await assert.rejects(p.getcwd(), isEio);
});
