/**
 * The sandboxed server process: a test-only component (fixtures/evil.ts)
 * that, inside the server, tries to read a host file, write outside (and to)
 * its read-only image, start processes and workers, open tcp/udp
 * connections, resolve names and evaluate strings. In the 'process'
 * isolation each attempt is denied and the server does not run as root;
 * the same component in the in-process kernel is allowed all of it, which
 * shows the probes really detect access.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { createSocket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from '../../src/testing/hostfs.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKernel, type Isolation } from '../../src/sysproxy/index.js';
import { KernelError } from '../../src/kern/error.js';
import { O_RDONLY } from '../../src/vfs/fcntl.js';
import { fixture } from './helpers.js';

async function probe(isolation: Isolation): Promise<{ report: Record<string, string | number>; tcpConnections: number; udpPackets: number; outsideWritten: boolean; imageChanged: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), 'sysproxy-sandbox-'));
  const image = join(dir, 'disk.img');
  const imageBytes = new Uint8Array(64 * 1024).fill(0x5a);
  await writeFile(image, imageBytes);
  const outside = join(dir, 'outside.txt');
  let tcpConnections = 0;
  const tcp = createServer((s) => {
    tcpConnections++;
    s.on('error', () => undefined);
    s.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const port = (tcp.address() as AddressInfo).port;
  let udpPackets = 0;
  const udp = createSocket('udp4');
  udp.on('message', () => udpPackets++);
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  try {
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: image, readonly: true }], isolation, extraComponentModules: [fixture('evil')] });
    try {
      const p = await rk.newProc();
      await p.mount('evilfs', '/mnt', { readonly: true, options: { write: outside, image, port } });
      const fd = await p.open('/mnt/report', O_RDONLY);
      const buf = new Uint8Array(65536);
      const n = await p.read(fd, buf);
      await p.close(fd);
      const report = JSON.parse(new TextDecoder().decode(buf.subarray(0, n))) as Record<string, string | number>;
      await new Promise((r) => setTimeout(r, 100));
      const after = await readFile(image);
      const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      return { report, tcpConnections, udpPackets, outsideWritten: existsSync(outside), imageChanged: hash(after) !== hash(imageBytes) };
    } finally {
      await rk.halt();
    }
  } finally {
    tcp.close();
    udp.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const ATTEMPTS = ['readPasswd', 'readPasswdAsync', 'writeOutside', 'writeImage', 'spawn', 'exec', 'worker', 'connect', 'fetch', 'udp', 'dns', 'eval', 'Function'] as const;

test('inside the sandboxed server process, a driver is denied host files, processes, workers, the network and eval', async () => {
  const r = await probe('process');
  if (process.env["SYSPROXY_DUMP"]) console.error(JSON.stringify(r));
  for (const a of ATTEMPTS) assert.notEqual(r.report[a], 'allowed', `${a} was allowed inside the sandbox`);
  // The permission model's own denials.
  for (const a of ['readPasswd', 'readPasswdAsync', 'writeOutside', 'writeImage', 'spawn', 'exec', 'worker'] as const) {
    assert.equal(r.report[a], 'ERR_ACCESS_DENIED', `${a}: ${r.report[a]}`);
  }
  assert.match(String(r.report['eval']), /EvalError/);
  assert.match(String(r.report['Function']), /EvalError/);
  assert.equal(r.tcpConnections, 0);
  assert.equal(r.udpPackets, 0);
  assert.equal(r.outsideWritten, false);
  assert.equal(r.imageChanged, false);
  assert.notEqual(r.report['uid'], 0, 'the server runs as root');
  if (process.getuid?.() === 0) {
    assert.equal(r.report['uid'], 65534);
    assert.equal(r.report['gid'], 65534);
  }
});

test('the same driver in the in-process kernel is allowed everything (the probes detect access)', async () => {
  const r = await probe('trusted');
  for (const a of ['readPasswd', 'readPasswdAsync', 'writeOutside', 'writeImage', 'spawn', 'exec', 'worker', 'connect', 'fetch', 'udp', 'dns', 'eval', 'Function', 'readImage'] as const) {
    assert.equal(r.report[a], 'allowed', `${a}: ${r.report[a]}`);
  }
  assert.equal(r.tcpConnections >= 2, true);
  assert.equal(r.udpPackets, 1);
  assert.equal(r.outsideWritten, true);
  assert.equal(r.imageChanged, true);
});

test('the worker isolation blocks the network modules inside the worker', async () => {
  const r = await probe('worker');
  for (const a of ['connect', 'fetch', 'udp', 'dns'] as const) assert.notEqual(r.report[a], 'allowed', `${a} was allowed in the worker`);
  assert.equal(r.tcpConnections, 0);
  assert.equal(r.udpPackets, 0);
});

for (const isolation of ['process', 'worker', 'trusted'] as const) {
  test(`a server whose image does not open fails to start with the image's error (${isolation})`, async () => {
    const missing = join(tmpdir(), `sysproxy-no-such-image-${process.pid}.img`);
    await assert.rejects(
      startKernel({ images: [{ node: '/dev/img0', path: missing, readonly: true }], isolation }),
      (e: unknown) => e instanceof KernelError && e.code === 'ENOENT',
    );
  });
}

test('the network namespace layer alone: a process started in it cannot reach a listener on this host', async () => {
  const { netnsPrefix } = await import('../../src/sysproxy/launch.js');
  const prefix = netnsPrefix();
  // Tests run as root here, where a fresh network namespace is always available.
  if (process.getuid?.() === 0) assert.ok(prefix, 'no network namespace although running as root');
  if (!prefix) return;
  let connections = 0;
  const tcp = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const port = (tcp.address() as AddressInfo).port;
  try {
    const { spawnSync } = await import('node:child_process');
    const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
    const [cmd, ...args] = [...prefix, process.execPath, '-e', script];
    const inside = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 10_000 });
    const outside = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(outside.stdout.trim(), 'connected', 'the control connection from outside the namespace failed');
    assert.match(inside.stdout.trim(), /^E(NETUNREACH|CONNREFUSED|ADDRNOTAVAIL)$/);
    // spawnSync held the event loop: let the listener see the control connection, then count.
    for (let i = 0; i < 50 && connections < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(connections, 1);
  } finally {
    tcp.close();
  }
});

test('an image path the permission model cannot grant alone (a comma) is refused with EINVAL, not opened unsandboxed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sysproxy-comma-'));
  try {
    const image = join(dir, 'a,b.img');
    await writeFile(image, new Uint8Array(4096));
    await assert.rejects(
      startKernel({ images: [{ node: '/dev/img0', path: image, readonly: true }] }),
      (e: unknown) => e instanceof KernelError && e.code === 'EINVAL' && /comma/.test(e.detail ?? ''),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
