/**
 * The FUSE daemon process of `rump mount`: started by rumpMount with its configuration as JSON in argv[2]
 * and an IPC channel for the readiness report. It must own its libuv pool (blocking /dev/fuse reads park
 * pool threads), so it is always a process of its own, started with UV_THREADPOOL_SIZE raised.
 */

import { runDaemon, type DaemonConfig } from './mount.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as DaemonConfig;
const notify = (m: object): void => {
  if (process.send && process.connected) process.send(m);
};
const log = (line: string): void => {
  try {
    process.stderr.write(line + '\n');
  } catch {
    // the parent closed our stderr after the mount was ready
  }
};
process.stderr.on?.('error', () => {});
runDaemon(cfg, notify, log).then(
  () => process.exit(0),
  (e: unknown) => {
    log(`rump mount: ${String(e)}`);
    notify({ error: String(e) });
    process.exit(1);
  },
);
