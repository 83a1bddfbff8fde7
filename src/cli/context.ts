/**
 * What every `rump` command shares: the global flags, `IMAGE:PATH` arguments,
 * opening each image once (read-only unless the command writes to it), the
 * error format (`rump: cat: disk.img:/etc/x: No such file or directory`), and
 * the output streams, so commands run the same from main() and from tests.
 */

import { statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { isKernelError, KernelError } from '../kern/error.js';
import { strerror, type Errno } from '../kern/errno.js';
import { openImage, kernelVolume, connect, type ImageVolume, type Isolation, type Volume } from '../ukfs/index.js';

export interface Io {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

/** Flags every command takes. */
export interface GlobalOpts {
  type?: string;
  partition?: string;
  trusted?: boolean;
  isolation?: string;
  memlimit?: string;
  timeout?: string;
  component?: string[];
}

/** A failure already worded for the user; main() prints it as `rump: CMD: MESSAGE`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Where an argument points: a path inside an image, a path in a RUMP_SERVER kernel, or a host path. */
export type Target =
  | { kind: 'image'; image: string; path: string; label: string }
  | { kind: 'remote'; path: string; label: string }
  | { kind: 'host'; path: string; label: string };

function isHostFile(p: string): boolean {
  try {
    return statSync(p).isFile() || statSync(p).isBlockDevice();
  } catch {
    return false;
  }
}

/**
 * Splits `IMAGE:PATH`. The image part ends at the first ':' whose prefix names an existing file
 * (so image names and paths may both contain ':'); failing that, at the first ':'.
 */
export function splitImageArg(arg: string): { image: string; path: string } | null {
  let i = arg.indexOf(':');
  const first = i;
  while (i > 0) {
    if (isHostFile(arg.slice(0, i))) return { image: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
    i = arg.indexOf(':', i + 1);
  }
  if (first > 0) return { image: arg.slice(0, first), path: arg.slice(first + 1) || '/' };
  return null;
}

/** The C library's wording (what coreutils print) where it differs from the kernel's table. */
const GLIBC = new Map<string, string>([
  ['EIO', 'Input/output error'], ['EISDIR', 'Is a directory'], ['EEXIST', 'File exists'], ['EBUSY', 'Device or resource busy'],
  ['EXDEV', 'Invalid cross-device link'], ['EMFILE', 'Too many open files'], ['ENFILE', 'Too many open files in system'],
  ['ENOTEMPTY', 'Directory not empty'], ['ELOOP', 'Too many levels of symbolic links'], ['ENOSPC', 'No space left on device'],
  ['ENAMETOOLONG', 'File name too long'], ['EMLINK', 'Too many links'], ['ENXIO', 'No such device or address'],
  ['ENOMEM', 'Cannot allocate memory'], ['EFBIG', 'File too large'], ['ENOSYS', 'Function not implemented'],
  ['EOPNOTSUPP', 'Operation not supported'], ['EFTYPE', 'Inappropriate file type or format'], ['EUCLEAN', 'Structure needs cleaning'],
  ['ETIMEDOUT', 'Connection timed out'], ['EINVAL', 'Invalid argument'], ['EACCES', 'Permission denied'], ['EPERM', 'Operation not permitted'],
  ['EROFS', 'Read-only file system'], ['ENOTDIR', 'Not a directory'], ['ENOENT', 'No such file or directory'],
]);

export function errnoText(code: Errno): string {
  return GLIBC.get(code) ?? strerror(code);
}

/** Codes whose detail (a driver's one-line diagnostic) is shown with the message. */
const DETAILED = new Set(['EIO', 'EFTYPE', 'EUCLEAN', 'ELOOP', 'EOPNOTSUPP', 'ENOSPC', 'EFBIG']);

export function humanError(e: unknown): string {
  if (isKernelError(e)) {
    if (e.code === 'ELOOP' && e.detail?.includes('cycle')) return `File system loop detected (${e.detail})`;
    const base = errnoText(e.code);
    // Corrupt-metadata errors carry the structure that was wrong, and a driver's refusal what the format
    // cannot hold or why it is full: worth a user's eyes.
    if (e.detail && DETAILED.has(e.code)) return `${base} (${e.detail})`;
    return base;
  }
  if (e instanceof CliError) return e.message;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    try {
      return errnoText(code as Errno);
    } catch {
      return code;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/** Parses `--timeout` (seconds, or with an ms/s/m suffix) into milliseconds. */
export function parseTimeout(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new CliError(`bad --timeout '${s}' (seconds, or 500ms, 2m)`);
  const v = Number(m[1]);
  return Math.round(m[2] === 'ms' ? v : m[2] === 'm' ? v * 60_000 : v * 1000);
}

/** `--memlimit` in MiB: a whole number from 16 up. */
export function parseMemlimit(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 16 || n > 1 << 20) throw new CliError(`bad --memlimit '${s}' (MiB, at least 16)`);
  return n;
}

/** Sizes as mkfs and dd spell them: 512, 64k, 64m, 1g (powers of 1024). */
export function parseSize(s: string): number {
  const m = /^(\d+)([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new CliError(`bad size '${s}' (use 64m, 1g ...)`);
  const mult = new Map([['', 1], ['k', 1024], ['m', 1024 ** 2], ['g', 1024 ** 3], ['t', 1024 ** 4]]).get(m[2]!.toLowerCase())!;
  const v = Number(m[1]) * mult;
  if (!Number.isSafeInteger(v)) throw new CliError(`size '${s}' is too large`);
  return v;
}

interface Shared {
  volumes: Map<string, Promise<ImageVolume>>;
  remote: Promise<Volume> | undefined;
  deathReported?: boolean;
}

export class Context {
  /** Images opened by this command (and by the commands of a shell session), each once. */
  private shared: Shared = { volumes: new Map(), remote: undefined };
  /** Errors already reported; the command exits 1 when there were any. */
  failures = 0;

  constructor(
    readonly cmd: string,
    readonly opts: GlobalOpts,
    readonly io: Io,
  ) {}

  /** A context for one command of a shell session: same flags and images, its own name and count. */
  child(cmd: string): Context {
    const c = new Context(cmd, this.opts, this.io);
    c.shared = this.shared;
    return c;
  }

  private get volumes(): Map<string, Promise<ImageVolume>> {
    return this.shared.volumes;
  }

  get isolation(): Isolation {
    if (this.opts.trusted) return 'trusted';
    const i = this.opts.isolation ?? 'process';
    if (i !== 'process' && i !== 'worker' && i !== 'trusted') throw new CliError(`bad --isolation '${i}' (process, worker or trusted)`);
    return i;
  }

  private get partition(): number | undefined {
    if (this.opts.partition === undefined) return undefined;
    const n = Number(this.opts.partition);
    if (!Number.isInteger(n) || n < 0) throw new CliError(`bad partition '${this.opts.partition}'`);
    return n;
  }

  /**
   * Classifies an argument: IMAGE:PATH; with RUMP_SERVER set, a path in that kernel; where host paths
   * are allowed (cp's sources and destination), a host path; otherwise a whole image (its root).
   */
  target(arg: string, hostAllowed: boolean): Target {
    // ':PATH' names a path in the RUMP_SERVER kernel where a plain path would be a host path (cp).
    if (arg.startsWith(':') && this.io.env['RUMP_SERVER']) return { kind: 'remote', path: arg.slice(1) || '/', label: arg.slice(1) };
    const split = splitImageArg(arg);
    if (split) return { kind: 'image', image: split.image, path: split.path, label: arg };
    if (this.io.env['RUMP_SERVER'] && !hostAllowed) return { kind: 'remote', path: arg, label: arg };
    if (hostAllowed) return { kind: 'host', path: arg, label: arg };
    return { kind: 'image', image: arg, path: '/', label: arg };
  }

  /** Whether --trusted or --isolation was given (otherwise `isolation` is the default, 'process'). */
  get isolationAsked(): boolean {
    return this.opts.trusted === true || this.opts.isolation !== undefined;
  }

  /** The volume of an image, opened once per command; read-write when `write`; its kernel isolated as `isolation`. */
  volume(image: string, write: boolean, isolation: Isolation = this.isolation): Promise<ImageVolume> {
    let v = this.volumes.get(image);
    if (!v) {
      const opts = {
        readonly: !write,
        isolation,
        ...(this.opts.type !== undefined ? { type: this.opts.type } : {}),
        ...(this.partition !== undefined ? { partition: this.partition } : {}),
        ...(this.opts.memlimit !== undefined ? { memlimitMiB: parseMemlimit(this.opts.memlimit) } : {}),
        ...(this.opts.timeout !== undefined ? { timeoutMs: parseTimeout(this.opts.timeout) } : {}),
        ...(this.opts.component?.length ? { extraComponentModules: this.opts.component } : {}),
      };
      v = openImage(image, opts).catch((e: unknown) => {
        throw new CliError(`${image}: ${imageError(e)}`);
      });
      this.volumes.set(image, v);
    }
    return v;
  }

  /** A Volume over the kernel RUMP_SERVER points at, in its own namespace. */
  remote(): Promise<Volume> {
    this.shared.remote ??= (async () => {
      const url = this.io.env['RUMP_SERVER']!;
      const k = await connect(url).catch((e: unknown) => {
        throw new CliError(`${url}: cannot connect: ${humanError(e)}`);
      });
      return kernelVolume(k, await k.newProc(), false);
    })();
    return this.shared.remote;
  }

  /** The volume and path an image or remote target names. */
  async open(t: Target, write: boolean): Promise<{ vol: Volume; path: string }> {
    if (t.kind === 'image') return { vol: await this.volume(t.image, write), path: t.path };
    if (t.kind === 'remote') return { vol: await this.remote(), path: t.path };
    throw new CliError(`${t.label}: expected IMAGE:PATH`);
  }

  /** Prints `rump: CMD: LABEL: MESSAGE` and counts a failure. When the server died, says so. */
  async report(label: string, e: unknown): Promise<void> {
    this.failures++;
    let msg = humanError(e);
    const dead = await this.deathReason();
    // Once the server is gone every later call fails the same way: one line says so, the rest are noise.
    if (dead && this.shared.deathReported) return;
    if (dead) this.shared.deathReported = true;
    // Once the server is gone every call fails the same way: say why, once.
    if (dead) msg = `${isKernelError(e) ? errnoText(e.code) : msg}: kernel server died: ${dead}`;
    this.io.stderr.write(`rump: ${this.cmd}: ${label ? `${label}: ` : ''}${msg}\n`);
  }

  /** A label for an error on `path` of target `t` (the path the kernel complained about, in the user's spelling). */
  labelFor(t: Target, e: unknown): string {
    if (isKernelError(e) && e.path !== undefined && t.kind === 'image') return `${t.image}:${e.path}`;
    if (isKernelError(e) && e.path !== undefined && t.kind === 'remote') return e.path;
    return t.label;
  }

  async deathReason(): Promise<string | undefined> {
    for (const v of this.volumes.values()) {
      const vol = await v.catch(() => undefined);
      if (vol?.deathReason) return vol.deathReason;
    }
    return undefined;
  }

  warn(msg: string): void {
    this.io.stderr.write(`rump: ${this.cmd}: ${msg}\n`);
  }

  /** Closes every volume (unmount, halt); failures to close are reported, not thrown. */
  async close(): Promise<void> {
    for (const [image, v] of this.volumes) {
      const vol = await v.catch(() => undefined);
      if (!vol) continue;
      try {
        await vol.close();
      } catch (e) {
        if (!vol.deathReason) await this.report(image, e);
      }
    }
    this.volumes.clear();
    const r = await this.shared.remote?.catch(() => undefined);
    this.shared.remote = undefined;
    await r?.close().catch(() => undefined);
  }
}

/** The message for a failure to open an image: ukfs's detail when it has one ("NTFS is not supported..."). */
export function imageError(e: unknown): string {
  if (e instanceof KernelError) {
    if (e.syscall === 'open' && e.detail && (e.code === 'EFTYPE' || e.code === 'ENXIO' || e.code === 'ENODEV' || e.code === 'EINVAL')) return e.detail;
    if (e.syscall === 'open' && e.detail && e.code !== 'ENOENT' && e.code !== 'EACCES') return `${errnoText(e.code)} (${e.detail})`;
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EROFS') return errnoText(e.code);
  }
  return humanError(e);
}
