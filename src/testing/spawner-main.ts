/**
 * The spawner process (see spawner.ts): runs the commands its parent asks for and sends back their exit
 * code and output. It stays small, so starting a process from it costs little (a fork copies the page
 * tables of the process that forks, and a test process holding images in memory has many).
 */

import { spawn } from 'node:child_process';
import type { SpawnReply, SpawnRequest } from './spawner.js';

process.on('message', (m: SpawnRequest) => {
  const reply = (r: Omit<SpawnReply, 'id'>): void => {
    process.send?.({ id: m.id, ...r } satisfies SpawnReply);
  };
  let child;
  try {
    child = spawn(m.bin, m.args, { cwd: m.cwd, env: m.env });
  } catch (e) {
    reply({ code: -1, stdout: new Uint8Array(0), stderr: new Uint8Array(0), error: (e as Error).message });
    return;
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let failed: string | undefined;
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined);
  child.on('error', (e) => {
    failed = e.message;
  });
  child.on('close', (code) => {
    reply({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ...(failed !== undefined ? { error: failed } : {}) });
  });
  child.stdin.end(m.input);
});

// The parent went away: nothing more will be asked.
process.on('disconnect', () => process.exit(0));
