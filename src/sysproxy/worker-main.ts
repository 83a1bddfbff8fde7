/**
 * Entry point of the worker-thread kernel server (isolation 'worker'): the
 * same hosting as the server process, inside a V8 isolate with a heap limit.
 * The permission model and privileges are process-wide and cannot be applied
 * to one thread; the module-level network block can, and is.
 */

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { blockNetwork } from './sandbox.js';

blockNetwork();

const { PortChannel } = await import('./transport.js');
const { loadComponents, hostKernel } = await import('./host.js');
const { refuse } = await import('./server.js');
type ServerConfig = import('./launch.js').ServerConfig;

const { cfg, port } = workerData as { cfg: ServerConfig; port: MessagePort };
const channel = new PortChannel(port);

function stop(): void {
  port.close();
  parentPort?.close();
  process.exit(0);
}

try {
  const components = await loadComponents(cfg.extraComponentModules);
  const { server, kernel } = await hostKernel(cfg, { components, onHalt: () => setImmediate(stop) });
  server.attach(channel);
  channel.onClose(() => {
    void kernel.halt().finally(stop);
  });
  parentPort?.on('message', (msg: { connection?: MessagePort }) => {
    if (msg && msg.connection) server.attach(new PortChannel(msg.connection));
  });
} catch (e) {
  refuse(channel, e, () => setImmediate(stop));
}
