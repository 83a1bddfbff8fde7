/**
 * Runs commands from a small helper process instead of this one. Starting a process forks the caller,
 * and a fork copies the caller's page tables: from a test process holding a few hundred MiB of images a
 * spawn costs tens of milliseconds of CPU, from a small process about one. The helper is forked once,
 * lazily, and does not keep this process alive while nothing is running.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SpawnRequest {
  id: number;
  bin: string;
  args: readonly string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  input?: Uint8Array | string;
}

export interface SpawnReply {
  id: number;
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** Set when the command could not be started. */
  error?: string;
}

export interface SpawnResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

let helper: ChildProcess | null = null;
let nextId = 1;
const pending = new Map<number, { resolve: (r: SpawnResult) => void; reject: (e: Error) => void }>();

function start(): ChildProcess {
  const fromSources = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./spawner-main.${fromSources ? 'ts' : 'js'}`, import.meta.url));
  // Compiled: a plain node, as lean as it gets. From sources: the parent's loader (tsx) is needed.
  const c = fork(script, [], { serialization: 'advanced', execArgv: fromSources ? process.execArgv : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  c.on('message', (m: SpawnReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    idle();
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve({ code: m.code, stdout: Buffer.from(m.stdout.buffer, m.stdout.byteOffset, m.stdout.byteLength), stderr: Buffer.from(m.stderr.buffer, m.stderr.byteOffset, m.stderr.byteLength) });
  });
  c.on('exit', () => {
    helper = null;
    const waiting = [...pending.values()];
    pending.clear();
    for (const p of waiting) p.reject(new Error('the spawner process exited'));
  });
  c.on('error', () => undefined);
  return c;
}

/** While nothing is running the helper must not hold this process open. */
function idle(): void {
  if (pending.size === 0 && helper) {
    helper.unref();
    helper.channel?.unref();
  }
}

/** Runs `bin` to completion in the helper process; resolves with its exit code and output. */
export function spawnCollect(bin: string, args: readonly string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; input?: Uint8Array | string }): Promise<SpawnResult> {
  helper ??= start();
  helper.ref();
  helper.channel?.ref();
  const id = nextId++;
  const req: SpawnRequest = { id, bin, args, env: opts.env };
  if (opts.cwd !== undefined) req.cwd = opts.cwd;
  if (opts.input !== undefined) req.input = opts.input;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    helper!.send(req);
  });
}
