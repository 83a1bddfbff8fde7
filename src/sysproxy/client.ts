/**
 * The sysproxy client (NetBSD's librumpclient): a RemoteKernel and remote
 * processes that implement SyscallApi exactly, over any Channel. It keeps
 * many calls in flight, splits large reads and writes into MAX_IO chunks,
 * checks every reply before believing it, and runs the watchdog: a call with
 * no answer within `timeoutMs` (checked every timeoutMs/4) gets the server killed; that call and every
 * later one fail with EIO, and onDeath listeners hear why.
 */

import { KernelError } from '../kern/error.js';
import type { Errno } from '../kern/errno.js';
import type { Dirent, MountArgs, Stat, SyscallApi, TimeArg } from '../vfs/syscalls.js';
import type { ProbeResult, StatVfs } from '../vfs/types.js';
import { O_RDONLY } from '../vfs/fcntl.js';
import {
  badOpenReadFlags, putFilesLocal, OPENREAD_MANY_EACH, OPENREAD_MANY_MAX_PATHS, OPENREAD_MANY_TOTAL, READDIR_PLUS_STATS,
  type DirPlus, type LstatManyApi, type ReaddirPlusApi, type OpenReadApi, type OpenReadManyApi, type OpenReadManyItem, type OpenReadManyOptions, type OpenReadResult, type PutFileItem, type PutFilesApi,
} from './compound.js';
import { ImageReader, LAYOUT_MIN } from './layout.js';
import { CONTROL_OPS, SYSCALL_OPS, checkErrorReply, checkResult, unpackStat, type OpSpec } from './ops.js';
import { Kind, MAX_IO, PROTOCOL_MAGIC, PROTOCOL_VERSION, type Message } from './protocol.js';
import type { Channel } from './transport.js';
import type { Isolation, KernelControl, PartitionInfo, RemoteKernel } from './types.js';

/** What the client needs from whatever hosts the server. */
export interface Backend {
  readonly channel: Channel;
  /** Stops the server now (SIGKILL, worker.terminate); for the in-process kernel, only cuts the channel. */
  kill(): void;
  /** Why the server went away (exit status, signal, heap limit), given why the channel closed. */
  explain(channelReason: string): Promise<string>;
  /** Resolves once the server has gone after a halt, killing it if it takes longer than `ms`. */
  waitGone(ms: number): Promise<void>;
}

interface Pending {
  op: string;
  spec: OpSpec;
  args: unknown[];
  resolve: (v: { r: unknown; data: Uint8Array | undefined }) => void;
  reject: (e: KernelError) => void;
  /** performance.now() by which the answer must have come. */
  deadline: number;
  /** The bound the deadline was set with, for the message. */
  bound: number;
  /** Where a read's reply payload may be placed directly (the caller's buffer). */
  sink?: Uint8Array;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
/** Least time the handshake is given: it includes starting the server process. */
export const HELLO_MIN_MS = 10_000;

export class SysproxyClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private deathReason: string | null = null;
  private halting = false;
  private readonly deathCbs: ((reason: string) => void)[] = [];
  /** One sweeping timer for all calls in flight (a timer per call costs more than a local system call). */
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly timeoutMs: number,
    /** The images this client handed to the server, when it reads file data from them itself (layout.ts). */
    readonly images: ImageReader | null = null,
  ) {
    const ch = backend.channel;
    ch.onMessage((m) => this.onMessage(m));
    // Stream transports copy a read's payload straight into the caller's buffer.
    ch.setPlacer?.((id, kind, len) => {
      const sink = kind === Kind.Result ? this.pending.get(id)?.sink : undefined;
      return sink !== undefined && sink.length >= len ? sink : null;
    });
    ch.onClose((reason) => {
      if (this.deathReason !== null) return;
      if (this.halting && this.pending.size === 0) {
        this.deathReason = 'halted';
        return;
      }
      // A server that broke the protocol is alive and cannot be trusted: kill it. Otherwise it is gone; say why.
      if (reason.startsWith('protocol violation')) this.die(reason, true);
      else void backend.explain(reason).then((why) => this.die(why, true));
    });
  }

  get dead(): boolean {
    return this.deathReason !== null;
  }

  onDeath(cb: (reason: string) => void): void {
    this.deathCbs.push(cb);
  }

  /** The handshake: refuses a server of another protocol version. */
  async hello(): Promise<{ isolation: string; pid: number }> {
    const r = await this.send(Kind.Hello, { op: 'hello', spec: { args: [], result: 'void' }, args: [] }, { magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, client: 'anykernel' });
    const w = r.r as { version?: unknown; isolation?: unknown; pid?: unknown } | null;
    if (w === null || typeof w !== 'object' || w.version !== PROTOCOL_VERSION) {
      this.die('protocol violation: bad welcome from the server', true);
      throw this.deadError('hello');
    }
    return { isolation: String(w.isolation), pid: typeof w.pid === 'number' ? w.pid : 0 };
  }

  /** One remote call. `p` is the remote pid for a system call, undefined for a control operation. */
  async call(p: number | undefined, op: string, args: unknown[], data?: Uint8Array, sink?: Uint8Array): Promise<{ r: unknown; data: Uint8Array | undefined }> {
    const spec = (p === undefined ? CONTROL_OPS : SYSCALL_OPS).get(op);
    if (spec === undefined) throw new KernelError('ENOSYS', `sysproxy: ${op}`).withContext(op);
    const json: Record<string, unknown> = { op, a: trimArgs(args) };
    if (p !== undefined) json['p'] = p;
    return this.send(Kind.Call, { op, spec, args, ...(sink ? { sink } : {}) }, json, data);
  }

  private send(
    kind: Kind,
    what: { op: string; spec: OpSpec; args: unknown[]; sink?: Uint8Array },
    json: unknown,
    data?: Uint8Array,
  ): Promise<{ r: unknown; data: Uint8Array | undefined }> {
    if (this.deathReason !== null) return Promise.reject(this.deadError(what.op, what.spec, what.args));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      // The handshake waits for the server to start, which a loaded machine may take seconds to do: it is
      // given at least HELLO_MIN_MS whatever the per-request bound.
      const bound = kind === Kind.Hello ? Math.max(this.timeoutMs, HELLO_MIN_MS) : this.timeoutMs;
      const pend: Pending = { ...what, resolve, reject, bound, deadline: performance.now() + bound };
      this.pending.set(id, pend);
      this.armWatchdog();
      const m: Message = { kind, id, json };
      if (data !== undefined) m.data = data;
      try {
        this.backend.channel.send(m);
      } catch (e) {
        this.die(`sysproxy: cannot send ${what.op}: ${e instanceof Error ? e.message : String(e)}`, true);
      }
    });
  }

  /**
   * The watchdog: while calls are in flight, a timer sweeps them every quarter
   * of the bound; the first found past its deadline gets the server killed.
   * A call is therefore caught between timeoutMs and 1.25 × timeoutMs.
   */
  private armWatchdog(): void {
    if (this.sweeper !== null) {
      this.sweeper.ref();
      return;
    }
    if (!(this.timeoutMs > 0) || !Number.isFinite(this.timeoutMs)) return;
    const period = Math.max(10, Math.min(this.timeoutMs / 4, 1000));
    this.sweeper = setInterval(() => {
      if (this.pending.size === 0) {
        this.disarmWatchdog();
        return;
      }
      const now = performance.now();
      for (const pend of this.pending.values()) {
        if (now >= pend.deadline) {
          this.die(`watchdog: ${pend.op} got no answer within ${pend.bound} ms; the server was killed`, true);
          return;
        }
      }
    }, period);
  }

  private disarmWatchdog(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private onMessage(m: Message): void {
    const pend = this.pending.get(m.id);
    if (pend === undefined) {
      this.die(`protocol violation: a reply to unknown request ${m.id}`, true);
      return;
    }
    this.pending.delete(m.id);
    // Nothing in flight: the sweeper stops on its next tick, and until then it must not keep the process alive.
    if (this.pending.size === 0) this.sweeper?.unref();
    if (m.kind === Kind.Error) {
      const e = checkErrorReply(m.json);
      const ke = new KernelError(e.code, e.detail);
      if (e.syscall !== undefined) ke.withContext(e.syscall, e.path, e.dest);
      else ke.withContext(pend.op, pathOf(pend.spec, pend.args));
      pend.reject(ke);
      return;
    }
    const expected = pend.op === 'hello' ? Kind.Welcome : Kind.Result;
    if (m.kind !== expected) {
      this.die(`protocol violation: message kind ${m.kind} in reply to ${pend.op}`, true);
      pend.reject(this.deadError(pend.op, pend.spec, pend.args));
      return;
    }
    if (pend.op === 'hello') {
      pend.resolve({ r: m.json, data: undefined });
      return;
    }
    const r = (m.json as { r?: unknown } | null)?.r;
    if (!checkResult(pend.spec.result, r, m.data?.length)) {
      this.die(`protocol violation: malformed result for ${pend.op}`, true);
      pend.reject(this.deadError(pend.op, pend.spec, pend.args));
      return;
    }
    pend.resolve({ r, data: m.data });
  }

  /** The server is gone or cannot be trusted: kill it, fail everything in flight, tell the listeners. */
  die(reason: string, kill: boolean): void {
    if (this.deathReason !== null) return;
    this.deathReason = reason;
    if (kill) this.backend.kill();
    this.backend.channel.close(reason);
    this.images?.close();
    this.disarmWatchdog();
    for (const [id, pend] of this.pending) {
      this.pending.delete(id);
      pend.reject(this.deadError(pend.op, pend.spec, pend.args));
    }
    if (this.halting) return;
    for (const cb of this.deathCbs) {
      try {
        cb(reason);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private deadError(op: string, spec?: OpSpec, args?: unknown[]): KernelError {
    const e = new KernelError('EIO', `sysproxy: the kernel server is gone: ${this.deathReason ?? 'unknown'}`);
    return e.withContext(op, spec && args ? pathOf(spec, args) : undefined);
  }

  /** halt: the server syncs, unmounts and stops; the channel closing afterwards is not a death. */
  async halt(): Promise<void> {
    if (this.deathReason !== null) {
      if (this.deathReason === 'halted') return;
      throw this.deadError('halt');
    }
    this.halting = true;
    try {
      await this.call(undefined, 'halt', []);
    } finally {
      if (this.deathReason === null) this.deathReason = 'halted';
      this.backend.channel.close('halted');
      this.images?.close();
      await this.backend.waitGone(5000);
    }
  }
}

/**
 * One item's error in a compound reply, as a KernelError like a single call's: the server's context when it
 * sent one, else `call` on the item's path.
 */
function itemError(e: unknown, call: string, path: string | undefined): KernelError {
  const r = checkErrorReply(e);
  const ke = new KernelError(r.code, r.detail);
  if (r.syscall !== undefined) ke.withContext(r.syscall, r.path, r.dest);
  else ke.withContext(call, path);
  return ke;
}

function pathOf(spec: OpSpec, args: unknown[]): string | undefined {
  if (spec.path === undefined) return undefined;
  const v = args[spec.path];
  return typeof v === 'string' ? v : undefined;
}

/** Drops trailing undefined arguments (JSON has no undefined; the server treats missing and null alike). */
function trimArgs(args: unknown[]): unknown[] {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return args.slice(0, n).map((v) => (v === undefined ? null : v));
}

/**
 * A process inside the remote kernel; the same API as a local Proc, plus the
 * compound calls of compound.ts (use them through its functions, which fall
 * back to the separate calls on a local Proc).
 */
export class RemoteProc implements SyscallApi, OpenReadApi, OpenReadManyApi, LstatManyApi, ReaddirPlusApi, PutFilesApi {
  constructor(
    private readonly c: SysproxyClient,
    readonly pid: number,
  ) {}

  private async v(op: string, args: unknown[], data?: Uint8Array): Promise<void> {
    await this.c.call(this.pid, op, args, data);
  }

  private async r<T>(op: string, args: unknown[]): Promise<T> {
    return (await this.c.call(this.pid, op, args)).r as T;
  }

  open(path: string, flags: number, mode?: number): Promise<number> {
    return this.r('open', [path, flags, mode]);
  }
  close(fd: number): Promise<void> {
    return this.v('close', [fd]);
  }

  /**
   * Reads in MAX_IO pieces until `buf` is full or a piece comes back short. A client that reads layouts
   * asks for one for reads of LAYOUT_MIN bytes or more, and reads the image itself when it gets one.
   */
  private async readInto(op: 'read' | 'pread', fd: number, buf: Uint8Array, position: number): Promise<number> {
    const images = this.c.images;
    let done = 0;
    while (done < buf.length || buf.length === 0) {
      const want = Math.min(MAX_IO, buf.length - done);
      let res: { r: unknown; data: Uint8Array | undefined };
      const sink = buf.subarray(done, done + want);
      const viaLayout = images !== null && want >= LAYOUT_MIN;
      const args = op === 'read' ? [fd, want] : [fd, want, position + done];
      try {
        res = await this.c.call(this.pid, viaLayout ? 'readl' : op, viaLayout && op === 'read' ? [fd, want, null] : args, undefined, sink);
      } catch (e) {
        if (done > 0 && e instanceof KernelError && e.code !== 'EIO') return done;
        throw e;
      }
      const lay = viaLayout ? (res.r as { n: number; l?: number[] }) : null;
      const n = lay !== null ? lay.n : (res.r as number);
      if (n > want) throw new KernelError('EIO', `sysproxy: ${op} returned ${n} bytes for ${want}`).withContext(op);
      if (lay?.l !== undefined) await images!.read(lay.l, buf.subarray(done, done + n));
      else {
        // A stream transport may already have placed the bytes in `buf`.
        const d = res.data!;
        if (n > 0 && !(d.buffer === buf.buffer && d.byteOffset === sink.byteOffset)) buf.set(d, done);
      }
      done += n;
      if (n < want || buf.length === 0) break;
    }
    return done;
  }

  private async writeFrom(op: 'write' | 'pwrite', fd: number, buf: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buf.length || buf.length === 0) {
      const piece = buf.subarray(done, Math.min(buf.length, done + MAX_IO));
      const res = await this.c.call(this.pid, op, op === 'write' ? [fd] : [fd, position + done], piece);
      const n = res.r as number;
      if (n < 0 || n > piece.length) throw new KernelError('EIO', `sysproxy: ${op} wrote ${n} of ${piece.length} bytes`).withContext(op);
      done += n;
      if (n < piece.length || buf.length === 0) break;
    }
    return done;
  }

  /**
   * open + fstat + read up to buf.length bytes (+ close at end of file) in one
   * round trip; see compound.ts. When the server's reply leaves the file open
   * short of the buffer (a buffer larger than MAX_IO, a file longer than its
   * status said), the buffer is filled on with read() calls, so the result
   * means the same as the separate calls'.
   */
  async openRead(path: string, buf: Uint8Array, flags: number = O_RDONLY): Promise<OpenReadResult> {
    const bad = badOpenReadFlags(flags);
    if (bad !== null) throw new KernelError('EINVAL', bad).withContext('open', path);
    const want = Math.min(buf.length, MAX_IO);
    const sink = buf.subarray(0, want);
    const res = await this.c.call(this.pid, 'openread', [path, flags, want], undefined, sink);
    const r = res.r as { fd: number; n: number; st: number[] };
    const stat = unpackStat(r.st);
    if (r.n > want) throw new KernelError('EIO', `sysproxy: openread returned ${r.n} bytes for ${want}`).withContext('read', path);
    const d = res.data!;
    if (r.n > 0 && !(d.buffer === buf.buffer && d.byteOffset === sink.byteOffset)) buf.set(d, 0);
    let n = r.n;
    if (r.fd >= 0 && n < buf.length) {
      // The server stops at MAX_IO, or where the file's status said it ends: go on as read(2) would,
      // closing at end of file as the server does.
      try {
        n += await this.readInto('read', r.fd, buf.subarray(n), 0);
      } catch (e) {
        await this.close(r.fd).catch(() => undefined);
        throw e;
      }
      if (n < buf.length) {
        await this.close(r.fd);
        return { fd: -1, n, stat };
      }
    }
    return { fd: r.fd, n, stat };
  }

  /**
   * openRead for several files in one round trip (compound.ts's openReadMany):
   * items for a prefix of `paths`, each with its bytes as a view into the one
   * payload received, or its error.
   */
  async openReadMany(paths: string[], opts: OpenReadManyOptions = {}): Promise<OpenReadManyItem[]> {
    const flags = opts.flags ?? O_RDONLY;
    const bad = badOpenReadFlags(flags);
    if (bad !== null) throw new KernelError('EINVAL', bad).withContext('open', paths[0]);
    if (paths.length === 0) return [];
    if (opts.buffer !== undefined && opts.buffer.length === 0) throw new KernelError('EINVAL', 'openReadMany: empty buffer').withContext('open', paths[0]);
    const maxTotal = Math.max(1, Math.min(opts.maxTotal ?? OPENREAD_MANY_TOTAL, MAX_IO, opts.buffer?.length ?? Infinity));
    const maxEach = Math.max(1, Math.min(opts.maxEach ?? OPENREAD_MANY_EACH, maxTotal));
    const asked = paths.slice(0, OPENREAD_MANY_MAX_PATHS);
    // A caller's buffer is where a stream transport places the payload as it arrives.
    const sink = opts.buffer?.subarray(0, maxTotal);
    const images = this.c.images;
    const res = await this.c.call(this.pid, 'openreadv', [asked, flags, maxEach, maxTotal, images !== null ? 1 : undefined], undefined, sink);
    const items = res.r as ({ fd: number; n: number; st: number[]; l?: number[] } | { e: unknown })[];
    let data = res.data ?? new Uint8Array(0);
    if (items.length > asked.length) throw new KernelError('EIO', `sysproxy: openreadv answered ${items.length} files for ${asked.length}`).withContext('open', asked[0]);
    // Files answered with layouts are read from the image into the buffer after the bytes that came.
    let laid = 0;
    for (const it of items) {
      if ('e' in it) continue;
      if (it.n > maxEach) throw new KernelError('EIO', `sysproxy: openreadv returned ${it.n} bytes for ${maxEach}`).withContext('read', asked[0]);
      if (it.l !== undefined) laid += it.n;
    }
    if (data.length + laid > maxTotal) throw new KernelError('EIO', `sysproxy: openreadv returned ${data.length + laid} bytes for ${maxTotal}`).withContext('read', asked[0]);
    if (sink !== undefined && !(data.buffer === sink.buffer && data.byteOffset === sink.byteOffset)) {
      sink.set(data);
      data = sink.subarray(0, data.length);
    }
    let space = sink;
    if (laid > 0 && space === undefined) {
      space = Buffer.allocUnsafeSlow(data.length + laid);
      space.set(data);
    }
    const out: OpenReadManyItem[] = [];
    const reads: Promise<void>[] = [];
    let at = 0;
    let lat = data.length;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if ('e' in it) {
        out.push({ error: itemError(it.e, 'open', asked[i]) });
        continue;
      }
      if (it.l !== undefined) {
        const view = space!.subarray(lat, lat + it.n);
        reads.push(images!.read(it.l, view));
        out.push({ fd: it.fd, n: it.n, stat: unpackStat(it.st), data: view });
        lat += it.n;
      } else {
        out.push({ fd: it.fd, n: it.n, stat: unpackStat(it.st), data: data.subarray(at, at + it.n) });
        at += it.n;
      }
    }
    if (reads.length > 0) {
      try {
        await Promise.all(reads);
      } catch (e) {
        // The files are open on the server for nobody: close them before failing.
        for (const it of out) if ('fd' in it && it.fd >= 0) await this.close(it.fd).catch(() => undefined);
        throw e;
      }
    }
    return out;
  }

  /** readdir and the lstat of the first entries in one round trip (compound.ts's readdirPlus). */
  async readdirPlus(path: string, maxStats = READDIR_PLUS_STATS): Promise<DirPlus> {
    const res = await this.c.call(this.pid, 'readdirplus', [path, maxStats]);
    const r = res.r as { d: Dirent[]; s: (number[] | null)[] };
    if (r.s.length > maxStats) throw new KernelError('EIO', `sysproxy: readdirplus answered ${r.s.length} stats for ${maxStats}`).withContext('readdir', path);
    return { entries: r.d, stats: r.s.map((st) => (st === null ? null : unpackStat(st))) };
  }

  /** A server without putfilev (an older one, RUMP_SERVER): the separate calls from then on. */
  private noPutFiles = false;

  /** Small files written whole, with their owners, modes and times, in one round trip (compound.ts's putFiles). */
  async putFiles(items: readonly PutFileItem[]): Promise<(KernelError | null)[]> {
    if (!this.noPutFiles) {
      const data = new Uint8Array(items.reduce((t, it) => t + it.data.length, 0));
      let at = 0;
      for (const it of items) {
        data.set(it.data, at);
        at += it.data.length;
      }
      const meta = { m: items.map((it) => it.mode), n: items.map((it) => it.data.length), a: items.map((it) => it.attrs ?? null) };
      let res;
      try {
        res = await this.c.call(this.pid, 'putfilev', [items.map((it) => it.path), meta], data);
      } catch (e) {
        // Unknown to the server: refused before anything was made.
        if (!(e instanceof KernelError && e.code === 'ENOSYS' && /unknown system call/.test(e.detail ?? ''))) throw e;
        this.noPutFiles = true;
        return putFilesLocal(this, items);
      }
      const r = res.r as (null | { e: unknown })[];
      if (r.length !== items.length) throw new KernelError('EIO', `sysproxy: putfilev answered ${r.length} files for ${items.length}`).withContext('open', items[0]!.path);
      return r.map((it, i) => (it === null ? null : itemError(it.e, 'open', items[i]!.path)));
    }
    return putFilesLocal(this, items);
  }

  /** lstat of each path in one round trip (compound.ts's lstatMany). */
  async lstatMany(paths: string[]): Promise<(Stat | KernelError)[]> {
    if (paths.length === 0) return [];
    const res = await this.c.call(this.pid, 'lstatv', [paths]);
    const items = res.r as (number[] | { e: unknown })[];
    if (items.length !== paths.length) throw new KernelError('EIO', `sysproxy: lstatv answered ${items.length} paths for ${paths.length}`).withContext('lstat', paths[0]);
    return items.map((it, i) => (Array.isArray(it) ? unpackStat(it) : itemError(it.e, 'lstat', paths[i])));
  }

  read(fd: number, buf: Uint8Array): Promise<number> {
    return this.readInto('read', fd, buf, 0);
  }
  write(fd: number, buf: Uint8Array): Promise<number> {
    return this.writeFrom('write', fd, buf, 0);
  }
  pread(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.readInto('pread', fd, buf, position);
  }
  pwrite(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.writeFrom('pwrite', fd, buf, position);
  }
  lseek(fd: number, offset: number, whence: number): Promise<number> {
    return this.r('lseek', [fd, offset, whence]);
  }
  fstat(fd: number): Promise<Stat> {
    return this.r('fstat', [fd]);
  }
  stat(path: string): Promise<Stat> {
    return this.r('stat', [path]);
  }
  lstat(path: string): Promise<Stat> {
    return this.r('lstat', [path]);
  }
  access(path: string, mode: number): Promise<void> {
    return this.v('access', [path, mode]);
  }
  mkdir(path: string, mode?: number): Promise<void> {
    return this.v('mkdir', [path, mode]);
  }
  rmdir(path: string): Promise<void> {
    return this.v('rmdir', [path]);
  }
  unlink(path: string): Promise<void> {
    return this.v('unlink', [path]);
  }
  rename(from: string, to: string, flags?: number): Promise<void> {
    return this.v('rename', [from, to, flags]);
  }
  link(existing: string, newPath: string): Promise<void> {
    return this.v('link', [existing, newPath]);
  }
  symlink(target: string, path: string): Promise<void> {
    return this.v('symlink', [target, path]);
  }
  readlink(path: string): Promise<string> {
    return this.r('readlink', [path]);
  }
  mknod(path: string, mode: number, rdev?: number): Promise<void> {
    return this.v('mknod', [path, mode, rdev]);
  }
  getdents(fd: number, max?: number): Promise<Dirent[]> {
    return this.r('getdents', [fd, max]);
  }
  readdir(path: string): Promise<Dirent[]> {
    return this.r('readdir', [path]);
  }
  chmod(path: string, mode: number): Promise<void> {
    return this.v('chmod', [path, mode]);
  }
  fchmod(fd: number, mode: number): Promise<void> {
    return this.v('fchmod', [fd, mode]);
  }
  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.v('chown', [path, uid, gid]);
  }
  fchown(fd: number, uid: number, gid: number): Promise<void> {
    return this.v('fchown', [fd, uid, gid]);
  }
  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.v('lchown', [path, uid, gid]);
  }
  utimens(path: string, atime: TimeArg, mtime: TimeArg, flags?: number): Promise<void> {
    return this.v('utimens', [path, atime, mtime, flags]);
  }
  futimens(fd: number, atime: TimeArg, mtime: TimeArg): Promise<void> {
    return this.v('futimens', [fd, atime, mtime]);
  }
  truncate(path: string, size: number): Promise<void> {
    return this.v('truncate', [path, size]);
  }
  ftruncate(fd: number, size: number): Promise<void> {
    return this.v('ftruncate', [fd, size]);
  }
  fsync(fd: number): Promise<void> {
    return this.v('fsync', [fd]);
  }
  sync(): Promise<void> {
    return this.v('sync', []);
  }
  statvfs(path: string): Promise<StatVfs> {
    return this.r('statvfs', [path]);
  }
  fstatvfs(fd: number): Promise<StatVfs> {
    return this.r('fstatvfs', [fd]);
  }
  mount(fstype: string, target: string, args?: MountArgs): Promise<void> {
    return this.v('mount', [fstype, target, args]);
  }
  unmount(target: string, opts?: { force?: boolean }): Promise<void> {
    return this.v('unmount', [target, opts]);
  }
  chdir(path: string): Promise<void> {
    return this.v('chdir', [path]);
  }
  fchdir(fd: number): Promise<void> {
    return this.v('fchdir', [fd]);
  }
  getcwd(): Promise<string> {
    return this.r('getcwd', []);
  }
  umask(mask: number): Promise<number> {
    return this.r('umask', [mask]);
  }
  dup(fd: number): Promise<number> {
    return this.r('dup', [fd]);
  }
  dup2(fd: number, to: number): Promise<number> {
    return this.r('dup2', [fd, to]);
  }
  async getxattr(path: string, name: string, opts?: { nofollow?: boolean }): Promise<Uint8Array> {
    const res = await this.c.call(this.pid, 'getxattr', [path, name, opts]);
    return res.data ?? new Uint8Array(0);
  }
  setxattr(path: string, name: string, value: Uint8Array, opts?: { nofollow?: boolean; create?: boolean; replace?: boolean }): Promise<void> {
    return this.v('setxattr', [path, name, opts], value);
  }
  listxattr(path: string, opts?: { nofollow?: boolean }): Promise<string[]> {
    return this.r('listxattr', [path, opts]);
  }
  removexattr(path: string, name: string, opts?: { nofollow?: boolean }): Promise<void> {
    return this.v('removexattr', [path, name, opts]);
  }
  getcred(): Promise<{ uid: number; gid: number; groups: number[] }> {
    return this.r('getcred', []);
  }
}

/** A RemoteKernel over a connected client. */
export class RemoteKernelClient implements RemoteKernel {
  readonly control: KernelControl;

  constructor(
    readonly isolation: Isolation,
    private readonly c: SysproxyClient,
    /** The host process id of the server (the client's own for 'worker' and 'trusted'), for diagnostics. */
    readonly serverPid = 0,
  ) {
    this.control = {
      probe: async (node: string) => (await c.call(undefined, 'probe', [node])).r as ProbeResult | null,
      partitions: async (node: string) => (await c.call(undefined, 'partitions', [node])).r as PartitionInfo[],
      addWedge: async (node: string, index: number, newNode: string) => {
        await c.call(undefined, 'addwedge', [node, index, newNode]);
      },
      consoleLines: async () => (await c.call(undefined, 'console', [])).r as string[],
    };
  }

  async newProc(cred?: { uid?: number; gid?: number; groups?: number[] }): Promise<SyscallApi> {
    const pid = (await this.c.call(undefined, 'newproc', [cred ?? {}])).r as number;
    return new RemoteProc(this.c, pid);
  }

  halt(): Promise<void> {
    return this.c.halt();
  }

  get dead(): boolean {
    return this.c.dead;
  }

  onDeath(cb: (reason: string) => void): void {
    this.c.onDeath(cb);
  }

  /** For tests and diagnostics: kill the server as the watchdog would. */
  kill(reason: string): void {
    this.c.die(reason, true);
  }
}

export type { Errno };
