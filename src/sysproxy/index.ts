/**
 * sysproxy: remote system calls (NetBSD's rump sysproxy). A kernel runs in a
 * server — a sandboxed child process (the default), a worker thread, or
 * in-process — and a client gets processes with exactly the SyscallApi of a
 * local kernel. The wire protocol is in docs/sysproxy.md.
 *
 *   const rk = await startKernel({ images: [{ node: '/dev/img0', path: 'disk.img', readonly: true }] });
 *   const p = await rk.newProc();
 *   await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
 *   console.log(await p.readdir('/mnt'));
 *   await rk.halt();
 */

import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { KernelError } from '../kern/error.js';
import { DEFAULT_TIMEOUT_MS, RemoteKernelClient, SysproxyClient, type Backend } from './client.js';
import { startServer } from './launch.js';
import { StreamChannel } from './transport.js';
import { ImageReader, layoutPaths } from './layout.js';
import type { Isolation, RemoteKernel, StartOptions } from './types.js';

export {
  openRead, hasOpenRead, openReadMany, hasOpenReadMany, lstatMany, hasLstatMany,
  type OpenReadResult, type OpenReadApi, type OpenReadManyItem, type OpenReadManyOptions, type OpenReadManyApi, type LstatManyApi,
} from './compound.js';
export type { Isolation, ServerImage, StartOptions, PartitionInfo, KernelControl, RemoteKernel } from './types.js';

/** Starts a kernel server with the images registered, and connects to it. */
export async function startKernel(opts: StartOptions): Promise<RemoteKernel> {
  const isolation: Isolation = opts.isolation ?? 'process';
  const started = await startServer(opts);
  const images = opts.layouts === false || !opts.images.some((i) => i.readonly) ? null : new ImageReader(layoutPaths(opts.images));
  return connectClient(started.backend, isolation, opts.timeoutMs, images);
}

async function connectClient(backend: Backend, isolation: Isolation, timeoutMs = DEFAULT_TIMEOUT_MS, images: ImageReader | null = null): Promise<RemoteKernelClient> {
  const client = new SysproxyClient(backend, timeoutMs, images);
  let welcome;
  try {
    welcome = await client.hello();
  } catch (e) {
    backend.kill();
    throw e;
  }
  return new RemoteKernelClient(isolation, client, welcome.pid);
}

type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** 'unix://PATH', a bare path, or 'tcp://127.0.0.1:PORT' (loopback only: the protocol has no authentication). */
export function parseServerUrl(url: string): Listen {
  if (url.startsWith('unix://')) return { kind: 'unix', path: url.slice(7) };
  const m = /^tcp:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/.exec(url);
  if (m) {
    const port = Number(m[2]);
    if (port > 65535) throw new KernelError('EINVAL', `sysproxy: bad port in ${url}`);
    return { kind: 'tcp', host: m[1] === '[::1]' ? '::1' : m[1]!, port };
  }
  if (url.startsWith('tcp://')) throw new KernelError('EINVAL', `sysproxy: ${url}: only loopback addresses may serve a kernel`);
  if (url.includes('://')) throw new KernelError('EINVAL', `sysproxy: ${url}: unknown scheme`);
  return { kind: 'unix', path: url };
}

/**
 * `rump server`: boots a kernel in the given isolation and serves it on a unix
 * socket (mode 0600) or a loopback tcp port. Each connection gets its own
 * processes. close() halts the kernel and stops listening.
 */
export async function serve(opts: StartOptions & { listen: string }): Promise<{ close(): Promise<void>; readonly kernel: RemoteKernel }> {
  const where = parseServerUrl(opts.listen);
  const isolation: Isolation = opts.isolation ?? 'process';
  const started = await startServer(opts, true);
  const kernel = await connectClient(started.backend, isolation, opts.timeoutMs);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    started.accept(socket);
  });
  if (where.kind === 'unix') {
    try {
      if (lstatSync(where.path).isSocket()) unlinkSync(where.path);
    } catch {
      // nothing there
    }
  }
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    if (where.kind === 'unix') server.listen(where.path, () => res());
    else server.listen(where.port, where.host, () => res());
  });
  if (where.kind === 'unix') chmodSync(where.path, 0o600);
  // Once the kernel has stopped (halted by a client, or dead), stop accepting and drop connections
  // still being handed over, so no client waits on a server that is gone.
  started.backend.channel.onClose(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return {
    kernel,
    close: async () => {
      // Stop listening; connections already handed to the server end with its halt (not awaited
      // through server.close(), whose count of handed-over sockets cannot be relied on).
      server.close();
      for (const s of sockets) s.destroy();
      if (!kernel.dead) await kernel.halt().catch((e: unknown) => {
        // A client halted it first: that is a stop, not a failure.
        if (!kernel.dead) throw e;
      });
    },
  };
}

/** Connects to a kernel served by `serve` (RUMP_SERVER). The watchdog here can only disconnect. */
export async function connect(url: string, opts: { timeoutMs?: number } = {}): Promise<RemoteKernel> {
  const where = parseServerUrl(url);
  const socket = await new Promise<Socket>((res, rej) => {
    const s = where.kind === 'unix' ? netConnect(where.path) : netConnect(where.port, where.host);
    s.once('connect', () => {
      s.removeListener('error', rej);
      res(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => rej(new KernelError(e.code === 'ENOENT' ? 'ENOENT' : 'ECONNREFUSED', `sysproxy: ${url}: ${e.message}`).withContext('connect', url)));
  });
  const channel = new StreamChannel(socket);
  const backend: Backend = {
    channel,
    kill: () => socket.destroy(),
    explain: async (reason) => `lost the connection to ${url}: ${reason}`,
    waitGone: async () => undefined,
  };
  const c = new SysproxyClient(backend, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let welcome;
  try {
    welcome = await c.hello();
  } catch (e) {
    socket.destroy();
    throw e;
  }
  const iso = (['process', 'worker', 'trusted'] as const).find((i) => i === welcome.isolation) ?? 'process';
  return new RemoteKernelClient(iso, c, welcome.pid);
}
