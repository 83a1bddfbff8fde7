/**
 * Starting a kernel server in each isolation and the Backend the client
 * talks to: a sandboxed child process (permission model, network namespace,
 * heap limit, dropped privileges), a worker thread with resource limits, or
 * the in-process kernel. Also finds the compiled server code: the sibling
 * .js files when running from dist/, else a private build of the project in
 * the temporary directory (when running from sources under tsx).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { KernelError } from '../kern/error.js';
import type { Backend } from './client.js';
import type { HostConfig } from './host.js';
import type { KernelServer } from './server.js';
import { localPair, PortChannel, StreamChannel, type Channel } from './transport.js';
import type { Isolation, StartOptions } from './types.js';

export const DEFAULT_MEMLIMIT_MIB = 512;

/** A started server: the client's Backend, and how to hand it another connection (for `serve`). */
export interface Started {
  backend: Backend;
  /** Serves one more client connection (a socket accepted by `serve`). */
  accept(socket: Socket): void;
  /** The sandbox layers in force, for diagnostics and the docs' claims. */
  sandbox: string[];
}

// ---------------------------------------------------------------------------
// Where the compiled server code is.

export interface ServerBuild {
  /** The directory that mirrors the project (holds src/, test/). */
  root: string;
  /** The compiled src/ directory: all the server may read of code. */
  code: string;
  /** The project's source root when running from sources, else null. */
  sourceRoot: string | null;
}

let buildCache: ServerBuild | null = null;

function walkTs(dir: string, out: string[]): void {
  let ents;
  try {
    ents = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkTs(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
}

/**
 * The compiled code the server runs. From dist/ that is this file's own
 * directory tree. From sources (tsx), the project is compiled with its own
 * tsc into os.tmpdir()/anykernel-build-<hash of the sources>, once per
 * change of any source file; concurrent builders each build privately and
 * the first rename wins.
 */
export function serverBuild(): ServerBuild {
  if (buildCache) return buildCache;
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) {
    const code = resolve(dirname(here), '..');
    buildCache = { root: resolve(code, '..'), code, sourceRoot: null };
    return buildCache;
  }
  const project = resolve(dirname(here), '..', '..');
  const files: string[] = [];
  // What the server can load: the package's sources and sysproxy's test components.
  for (const d of ['src', join('test', 'sysproxy')]) walkTs(join(project, d), files);
  files.sort();
  const h = createHash('sha256');
  for (const f of [join(project, 'tsconfig.json'), ...files]) {
    try {
      const st = statSync(f);
      h.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
    } catch {
      // vanished while we looked: it is not part of this build
    }
  }
  const final = join(tmpdir(), `anykernel-build-${h.digest('hex').slice(0, 16)}`);
  if (!existsSync(join(final, '.complete'))) buildInto(project, final);
  buildCache = { root: final, code: join(final, 'src'), sourceRoot: project };
  return buildCache;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Compiles the project into `final`. One builder at a time (a lock directory);
 * the others wait for its result, and build themselves only if it never comes.
 */
function buildInto(project: string, final: string): void {
  const lock = `${final}.lock`;
  let locked = false;
  try {
    mkdirSync(lock);
    locked = true;
  } catch {
    for (let waited = 0; waited < 120_000 && !existsSync(join(final, '.complete')); waited += 100) sleepSync(100);
    if (existsSync(join(final, '.complete'))) return;
  }
  try {
    const work = `${final}.${process.pid}.${Date.now()}`;
    mkdirSync(work, { recursive: true });
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    // Type errors elsewhere in the project do not stop tsc from emitting; a missing output does.
    spawnSync(process.execPath, [tsc, '-p', project, '--outDir', work], { stdio: 'ignore' });
    if (!existsSync(join(work, 'src', 'sysproxy', 'server-main.js'))) {
      rmSync(work, { recursive: true, force: true });
      throw new Error('sysproxy: building the server with tsc produced no server-main.js');
    }
    writeFileSync(join(work, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(work, '.complete'), '');
    try {
      renameSync(work, final);
    } catch {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    if (locked) rmSync(lock, { recursive: true, force: true });
  }
}

/** A module path as the compiled server must load it: a .ts file of the project maps to its compiled .js. */
export function compiledModule(path: string): string {
  const b = serverBuild();
  const abs = resolve(path);
  if (b.sourceRoot !== null && abs.endsWith('.ts')) {
    const rel = relative(b.sourceRoot, abs);
    if (!rel.startsWith('..')) return join(b.root, rel.replace(/\.ts$/, '.js'));
  }
  return abs;
}

// ---------------------------------------------------------------------------
// The network namespace.

let netnsCache: string[] | null | undefined;

/**
 * The command prefix that starts the server in a fresh network namespace
 * (no interface but a downed loopback), or null when the host cannot make one.
 * As root a plain network namespace; otherwise a user namespace with it.
 */
export function netnsPrefix(): string[] | null {
  if (netnsCache !== undefined) return netnsCache;
  netnsCache = null;
  const unshare = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p));
  if (unshare !== undefined) {
    const flags = process.getuid?.() === 0 ? ['--net'] : ['--user', '--net'];
    // The probe runs true(1), not node: making the namespace is what may fail, and starting node
    // would cost a cold start of its own on every launch.
    const probe = ['/usr/bin/true', '/bin/true'].find((p) => existsSync(p));
    const r = spawnSync(unshare, [...flags, '--', ...(probe ? [probe] : [process.execPath, '-e', '0'])], { stdio: 'ignore', timeout: 5000 });
    if (r.status === 0) netnsCache = [unshare, ...flags, '--'];
  }
  return netnsCache;
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

// ---------------------------------------------------------------------------
// Backends.

/** Config the server entry points receive. */
export interface ServerConfig extends HostConfig {
  /** Drop to nobody after the images are open (the launcher is root). */
  dropPrivileges: boolean;
}

export async function startServer(opts: StartOptions, withAccept = false): Promise<Started> {
  const isolation: Isolation = opts.isolation ?? 'process';
  if (isolation === 'process') return startProcess(opts, withAccept);
  if (isolation === 'worker') return startWorker(opts);
  if (isolation === 'trusted') return startTrusted(opts);
  throw new Error(`sysproxy: unknown isolation ${String(isolation)}`);
}

function stderrTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr?.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    if (process.env['RUMP_CONSOLE']) process.stderr.write(s);
    tail = (tail + s).slice(-8192);
  });
  return () => tail;
}

function heapReason(text: string, memlimit: number): string | null {
  return /heap out of memory|Reached heap limit|ERR_WORKER_OUT_OF_MEMORY/.test(text)
    ? `the server exceeded its heap limit (${memlimit} MiB)`
    : null;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.length ? `: ${lines[lines.length - 1]!.slice(0, 300)}` : '';
}

async function startProcess(opts: StartOptions, withAccept: boolean): Promise<Started> {
  const build = serverBuild();
  const memlimit = opts.memlimitMiB ?? DEFAULT_MEMLIMIT_MIB;
  const images = opts.images.map((i) => ({ ...i, path: realOrResolved(i.path) }));
  const extra = (opts.extraComponentModules ?? []).map(compiledModule);
  for (const p of [...images.map((i) => i.path), build.code, ...extra]) {
    // Node 20 splits --allow-fs-read/--allow-fs-write values at commas: such a path cannot be granted alone.
    if (p.includes(',')) throw new KernelError('EINVAL', `sysproxy: ${p}: a path with a comma cannot be opened in the sandboxed server (Node's permission model splits at commas); rename it or use the trusted isolation`).withContext('startKernel', p);
  }
  const cfg: ServerConfig = {
    images,
    extraComponentModules: extra,
    isolation: 'process',
    dropPrivileges: process.getuid?.() === 0,
  };
  const sandbox = ['permission model', 'no code generation from strings', `heap limit ${memlimit} MiB`, 'network modules blocked'];
  const args = [
    '--experimental-permission',
    `--allow-fs-read=${build.code}${sep}`,
    ...images.map((i) => `--allow-fs-read=${i.path}`),
    ...images.filter((i) => !i.readonly).map((i) => `--allow-fs-write=${i.path}`),
    // A test component module may import its siblings: its directory is readable.
    ...extra.map((m) => `--allow-fs-read=${dirname(m)}${sep}`),
    '--disallow-code-generation-from-strings',
    `--max-old-space-size=${memlimit}`,
    '--disable-warning=ExperimentalWarning',
    join(build.code, 'sysproxy', 'server-main.js'),
    JSON.stringify(cfg),
  ];
  const prefix = netnsPrefix();
  if (prefix) sandbox.push('fresh network namespace');
  if (cfg.dropPrivileges) sandbox.push('privileges dropped to nobody');
  const [cmd, ...cmdArgs] = prefix ? [...prefix, process.execPath, ...args] : [process.execPath, ...args];
  const env: NodeJS.ProcessEnv = {};
  if (process.env['RUMP_CONSOLE']) env['RUMP_CONSOLE'] = process.env['RUMP_CONSOLE'];
  const child = spawn(cmd!, cmdArgs, {
    stdio: withAccept ? ['ignore', 'ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'ignore', 'pipe', 'pipe'],
    env,
    serialization: 'json',
  });
  const tail = stderrTail(child);
  const exited = new Promise<string>((res) => {
    child.on('exit', (code, signal) => {
      const t = tail();
      res(heapReason(t, memlimit) ?? (signal ? `the server was killed by ${signal}${lastLine(t)}` : `the server exited with status ${code}${lastLine(t)}`));
    });
    child.on('error', (e) => res(`the server could not start: ${e.message}`));
  });
  const channel = new StreamChannel(child.stdio[3] as Socket);
  const backend: Backend = {
    channel,
    kill: () => {
      child.kill('SIGKILL');
    },
    explain: async (reason) => {
      const why = await Promise.race([exited, delay(2000).then(() => null)]);
      return why ?? reason;
    },
    waitGone: async (ms) => {
      const r = await Promise.race([exited, delay(ms).then(() => null)]);
      if (r === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  return {
    backend,
    accept: (socket) => {
      if (!withAccept || !child.connected) {
        socket.destroy();
        return;
      }
      // keepOpen, then close our copy once the descriptor is on its way: otherwise Node holds it until the
      // child acknowledges, and a child that exits first (halted) leaves the client waiting forever.
      child.send('connection', socket, { keepOpen: true }, () => socket.destroy());
    },
    sandbox,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

async function startWorker(opts: StartOptions): Promise<Started> {
  const build = serverBuild();
  const memlimit = opts.memlimitMiB ?? DEFAULT_MEMLIMIT_MIB;
  const cfg: ServerConfig = {
    images: opts.images.map((i) => ({ ...i, path: realOrResolved(i.path) })),
    extraComponentModules: (opts.extraComponentModules ?? []).map(compiledModule),
    isolation: 'worker',
    dropPrivileges: false,
  };
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(join(build.code, 'sysproxy', 'worker-main.js'), {
    workerData: { cfg, port: port2 },
    transferList: [port2],
    resourceLimits: { maxOldGenerationSizeMb: memlimit },
    execArgv: [],
    stdout: true,
    stderr: true,
  });
  let lastError = '';
  worker.on('error', (e: Error & { code?: string }) => {
    lastError = `${e.code ?? e.name}: ${e.message}`;
  });
  worker.stdout.resume();
  worker.stderr.on('data', (b: Buffer) => {
    if (process.env['RUMP_CONSOLE']) process.stderr.write(b);
  });
  const exited = new Promise<string>((res) => {
    worker.on('exit', (code) => res(heapReason(lastError, memlimit) ?? `the server worker ended (status ${code})${lastError ? `: ${lastError}` : ''}`));
  });
  const channel = new PortChannel(port1);
  // The worker exits on its own after halt; an idle port must not keep this process alive.
  port1.unref();
  const backend: Backend = {
    channel,
    kill: () => {
      void worker.terminate();
    },
    explain: async (reason) => (await Promise.race([exited, delay(2000).then(() => null)])) ?? reason,
    waitGone: async (ms) => {
      const r = await Promise.race([exited, delay(ms).then(() => null)]);
      if (r === null) await worker.terminate();
    },
  };
  return {
    backend,
    accept: (socket) => {
      const { port1: a, port2: b } = new MessageChannel();
      worker.postMessage({ connection: b }, [b]);
      bridge(new StreamChannel(socket), new PortChannel(a));
    },
    sandbox: [`worker thread, heap limit ${memlimit} MiB`, 'network modules blocked in the worker'],
  };
}

/** Relays messages both ways between two channels (a socket client and a worker's port). */
function bridge(a: Channel, b: Channel): void {
  a.onMessage((m) => b.send(m));
  b.onMessage((m) => a.send(m));
  a.onClose((r) => b.close(r));
  b.onClose((r) => a.close(r));
}

async function startTrusted(opts: StartOptions): Promise<Started> {
  // The kernel and every component are loaded only here: a client of a server process never needs
  // them, and loading them is most of a cold start's module loading.
  const { hostKernel, loadComponents } = await import('./host.js');
  const { refuse } = await import('./server.js');
  const components = await loadComponents(opts.extraComponentModules ?? []);
  const cfg: HostConfig = { images: opts.images, extraComponentModules: [], isolation: 'trusted' };
  const [clientEnd, serverEnd] = localPair();
  let server: KernelServer | undefined;
  try {
    // Halted by a client of a socket it serves: the in-process kernel is gone, so this end closes as
    // a server process's exit would (after the halt has been answered).
    ({ server } = await hostKernel(cfg, { components, onHalt: () => setImmediate(() => clientEnd.close('the kernel was halted')) }));
    server.attach(serverEnd);
  } catch (e) {
    refuse(serverEnd, e);
  }
  const backend: Backend = {
    channel: clientEnd,
    // An in-process kernel cannot be killed: the watchdog only cuts it off.
    kill: () => clientEnd.close('killed'),
    explain: async (reason) => reason,
    waitGone: async () => undefined,
  };
  return {
    backend,
    accept: (socket) => {
      if (server) server.attach(new StreamChannel(socket));
      else socket.destroy();
    },
    sandbox: [],
  };
}
