/**
 * Entry point of the sandboxed kernel server process (started by launch.ts,
 * never by hand). Runs under Node's permission model; talks the protocol on
 * fd 3 (a socketpair to the client); stdout is not used, stderr carries
 * diagnostics. Order matters: network blocked first, then code loaded,
 * images opened, privileges dropped, and only then requests — the first
 * untrusted input — are served.
 */

import { Socket } from 'node:net';
import { blockNetwork, dropPrivileges } from './sandbox.js';

const cfgText = process.argv[2];
const protoSocket = new Socket({ fd: 3, readable: true, writable: true });
blockNetwork();

const { StreamChannel } = await import('./transport.js');
const { loadComponents, hostKernel } = await import('./host.js');
const { refuse } = await import('./server.js');
type ServerConfig = import('./launch.js').ServerConfig;

function fatal(what: string, e: unknown): never {
  process.stderr.write(`sysproxy server: ${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
}

process.on('uncaughtException', (e) => fatal('uncaught exception', e));
process.on('unhandledRejection', (e) => fatal('unhandled rejection', e));

const channel = new StreamChannel(protoSocket);
let halted = false;

function exitSoon(): void {
  protoSocket.end(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}

try {
  const cfg = JSON.parse(cfgText ?? '') as ServerConfig;
  const components = await loadComponents(cfg.extraComponentModules);
  const { server, kernel } = await hostKernel(cfg, {
    components,
    onHalt: () => {
      halted = true;
      exitSoon();
    },
  });
  if (cfg.dropPrivileges) dropPrivileges();
  server.attach(channel);
  channel.onClose(() => {
    // The client is gone without halting: sync what we can and leave.
    if (halted) return;
    halted = true;
    setTimeout(() => process.exit(0), 5000).unref();
    void kernel.halt().finally(() => process.exit(0));
  });
  // `serve` hands further client connections over the IPC channel as sockets.
  process.on('message', (msg: unknown, handle: unknown) => {
    if (msg === 'connection' && handle instanceof Socket) server.attach(new StreamChannel(handle));
  });
} catch (e) {
  refuse(channel, e, exitSoon);
  channel.onClose(() => exitSoon());
}
