/**
 * The sysproxy server: serves one kernel to any number of connections (NetBSD's
 * rump_server side of sysproxy). A connection speaks the handshake, then calls;
 * each process it creates (newproc) is a kernel process with its own
 * credentials, descriptor table and cwd, owned by that connection and
 * cleaned up when it goes. Calls run concurrently, replies go out as each one
 * finishes. The same code serves every isolation: a sandboxed child process,
 * a worker thread and the in-process kernel.
 */

import { SubDevice, type BlockDevice } from '../dev/blockdev.js';
import { KernelError } from '../kern/error.js';
import type { SyscallApi } from '../vfs/syscalls.js';
import { SEEK_CUR, SEEK_SET } from '../vfs/fcntl.js';
import type { ProbeResult } from '../vfs/types.js';
import { badOpenReadFlags, badPutFiles, lstatMany, openReadLocal, openReadManyLocal, putFilesLocal, readdirPlus, type LayoutFn, type PutFileItem } from './compound.js';
import { encodeLayout, type LayoutProc } from './layout.js';
import { CONTROL_OPS, SYSCALL_OPS, checkArgs, checkPutAttrs, packStat } from './ops.js';
import { Kind, MAX_IO, PROTOCOL_MAGIC, PROTOCOL_VERSION, ProtocolError, type Message } from './protocol.js';
import type { Channel } from './transport.js';
import type { Isolation, PartitionInfo } from './types.js';

/** What the server needs of a kernel (src/kern/kernel.ts's Kernel has all of it). */
export interface HostedKernel {
  newProc(cred?: { uid?: number; gid?: number; groups?: number[] }): ServedProc;
  probe(node: string): Promise<ProbeResult | null>;
  readonly etfs: {
    register(node: string, backing: string | Uint8Array | BlockDevice, opts?: { readonly?: boolean; offset?: number; size?: number }): Promise<BlockDevice>;
    lookup(node: string): BlockDevice | undefined;
  };
  readonly consoleLines: string[];
  halt(): Promise<void>;
}

export type ReadPartitions = (dev: BlockDevice) => Promise<PartitionInfo[]>;

/** Largest getdents batch a client may ask for. */
const MAX_DIRENTS = 65536;

/** A kernel process as the server holds it; exit() (Proc has it) closes its descriptors. */
type ServedProc = SyscallApi & { exit?: () => Promise<void> } & Partial<LayoutProc>;

interface Reply {
  r?: unknown;
  data?: Uint8Array;
  /** The pooled buffer `data` is a view of, returned to the pool once sent. */
  pooled?: Uint8Array;
}

/**
 * Reply buffers for reads, reused: a fresh multi-megabyte buffer per read
 * costs more (page faults) than the copy itself. Power-of-two size classes
 * from 64 KiB, a few buffers each; a buffer comes back only when the
 * transport says the reply no longer references it.
 */
class ReadBufferPool {
  private readonly free = new Map<number, Uint8Array[]>();
  /** Buffers kept per size class: more of the small ones, which many small files in flight at once use. */
  private static perClass(size: number): number {
    return size <= 256 * 1024 ? 16 : 4;
  }

  private static sizeClass(len: number): number {
    let c = 64 * 1024;
    while (c < len) c *= 2;
    return c;
  }

  get(len: number): Uint8Array {
    const c = ReadBufferPool.sizeClass(len);
    // Not zeroed: only the bytes the kernel filled (the first n) are ever sent.
    return this.free.get(c)?.pop() ?? Buffer.allocUnsafeSlow(c);
  }

  put(buf: Uint8Array): void {
    const list = this.free.get(buf.length) ?? [];
    if (list.length < ReadBufferPool.perClass(buf.length)) list.push(buf);
    this.free.set(buf.length, list);
  }
}

export class KernelServer {
  private readonly connections = new Set<Connection>();
  readonly readBuffers = new ReadBufferPool();
  private halting: Promise<void> | null = null;

  constructor(
    readonly kernel: HostedKernel,
    readonly opts: {
      isolation: Isolation;
      /** Partition-table reader (src/dev/disklabel.ts), when it exists. */
      readPartitions?: ReadPartitions | null;
      /** Called after halt has been answered: the host stops (exits the process, ends the worker). */
      onHalt?: () => void;
      /**
       * The host paths of the images the client handed over, in its order, null for one that is not
       * read-only: reads of files on these may be answered with layouts (layout.ts) when the client asks.
       */
      layoutImages?: readonly (string | null)[];
    },
  ) {}

  /** Serves one connection until it closes. */
  attach(channel: Channel): void {
    const conn = new Connection(this, channel);
    this.connections.add(conn);
    channel.onClose(() => {
      this.connections.delete(conn);
      void conn.cleanup();
    });
  }

  /** Syncs and unmounts everything (once), then tells the host. */
  halt(): Promise<void> {
    this.halting ??= this.kernel.halt();
    return this.halting;
  }

  get halted(): boolean {
    return this.halting !== null;
  }

  async partitions(node: string): Promise<PartitionInfo[]> {
    const dev = this.device(node);
    if (!this.opts.readPartitions) return [];
    return this.opts.readPartitions(dev);
  }

  async addWedge(node: string, index: number, newNode: string): Promise<void> {
    const dev = this.device(node);
    const parts = await this.partitions(node);
    const p = parts.find((x) => x.index === index);
    if (p === undefined) throw new KernelError('ENXIO', `${node}: no partition ${index}`);
    // PartitionInfo's start and size are bytes.
    const wedge = new SubDevice(dev, p.start, p.size, newNode);
    await this.kernel.etfs.register(newNode, wedge, { readonly: dev.readonly });
  }

  private device(node: string): BlockDevice {
    const dev = this.kernel.etfs.lookup(node);
    if (dev === undefined) throw new KernelError('ENXIO', `${node}: no such device node`);
    return dev;
  }
}

let nextConnection = 1;

class Connection {
  readonly id = nextConnection++;
  private greeted = false;
  private readonly procs = new Map<number, ServedProc>();

  constructor(
    private readonly server: KernelServer,
    private readonly channel: Channel,
  ) {
    channel.onMessage((m) => this.onMessage(m));
  }

  private onMessage(m: Message): void {
    if (!this.greeted) {
      this.hello(m);
      return;
    }
    if (m.kind !== Kind.Call) {
      this.channel.close(`protocol violation: message kind ${m.kind} from a client`);
      return;
    }
    void this.call(m);
  }

  private hello(m: Message): void {
    const j = m.json as { magic?: unknown; version?: unknown } | null;
    if (m.kind !== Kind.Hello || j === null || typeof j !== 'object' || j.magic !== PROTOCOL_MAGIC) {
      this.channel.close('protocol violation: no handshake');
      return;
    }
    if (j.version !== PROTOCOL_VERSION) {
      this.channel.send({ kind: Kind.Error, id: m.id, json: { code: 'EPROTO', detail: `sysproxy: server speaks version ${PROTOCOL_VERSION}, client ${String(j.version)}` } });
      this.channel.close('version mismatch');
      return;
    }
    this.greeted = true;
    this.channel.send({
      kind: Kind.Welcome,
      id: m.id,
      json: { version: PROTOCOL_VERSION, isolation: this.server.opts.isolation, pid: typeof process === 'object' ? process.pid : 0, maxIo: MAX_IO },
    });
  }

  private async call(m: Message): Promise<void> {
    const j = m.json as { op?: unknown; p?: unknown; a?: unknown } | null;
    let reply: Reply;
    try {
      if (j === null || typeof j !== 'object' || typeof j.op !== 'string') throw new KernelError('EINVAL', 'sysproxy: malformed call');
      if (this.server.halted && j.op !== 'halt') throw new KernelError('EIO', 'sysproxy: the kernel has halted');
      reply = j.p === undefined || j.p === null ? await this.control(j.op, j.a) : await this.syscall(j.p, j.op, j.a, m.data);
    } catch (e) {
      this.channel.send({ kind: Kind.Error, id: m.id, json: errorJson(e) });
      return;
    }
    const out: Message = { kind: Kind.Result, id: m.id, json: { r: reply.r ?? null } };
    if (reply.data !== undefined) out.data = reply.data;
    const pooled = reply.pooled;
    try {
      this.channel.send(out, pooled ? () => this.server.readBuffers.put(pooled) : undefined);
    } catch (e) {
      // A result too large for one message (the listing of a directory of millions of entries): nothing was
      // written; the caller gets E2BIG and may ask in pieces (getdents).
      if (!(e instanceof ProtocolError)) throw e;
      if (pooled) this.server.readBuffers.put(pooled);
      this.channel.send({ kind: Kind.Error, id: m.id, json: errorJson(new KernelError('E2BIG', `sysproxy: the result of ${j.op} is too large for one message: ${e.message}`)) });
    }
    if (j.op === 'halt') {
      this.channel.close('halted');
      this.server.opts.onHalt?.();
    }
  }

  private async control(op: string, a: unknown): Promise<Reply> {
    const spec = CONTROL_OPS.get(op);
    if (spec === undefined) throw new KernelError('ENOSYS', `sysproxy: unknown control operation ${op.slice(0, 40)}`);
    const bad = checkArgs(spec, a);
    if (bad !== null) throw new KernelError('EINVAL', `sysproxy: ${op}: ${bad}`);
    const args = a as unknown[];
    const k = this.server.kernel;
    switch (op) {
      case 'newproc': {
        const c = (args[0] ?? {}) as { uid?: unknown; gid?: unknown; groups?: unknown };
        const cred: { uid?: number; gid?: number; groups?: number[] } = {};
        if (c.uid !== undefined) cred.uid = c.uid as number;
        if (c.gid !== undefined) cred.gid = c.gid as number;
        if (c.groups !== undefined) {
          if (!Array.isArray(c.groups) || c.groups.length > 65536) throw new KernelError('EINVAL', 'sysproxy: bad groups');
          cred.groups = c.groups as number[];
        }
        const proc = k.newProc(cred);
        this.procs.set(proc.pid, proc);
        return { r: proc.pid };
      }
      case 'probe':
        return { r: await k.probe(args[0] as string) };
      case 'partitions':
        return { r: await this.server.partitions(args[0] as string) };
      case 'addwedge':
        await this.server.addWedge(args[0] as string, args[1] as number, args[2] as string);
        return {};
      case 'console':
        return { r: [...k.consoleLines] };
      case 'halt':
        await this.server.halt();
        return {};
    }
    throw new KernelError('ENOSYS', `sysproxy: ${op}`);
  }

  /** Layouts in wire form for `proc`'s reads, when the client handed over images read-only and the process can say. */
  private layoutFn(proc: ServedProc): ((fd: number, len: number, pos: number) => Promise<{ n: number; l: number[] } | null>) | undefined {
    const images = this.server.opts.layoutImages;
    const pl = proc.preadLayout;
    if (images === undefined || !images.some((i) => i !== null) || pl === undefined) return undefined;
    return async (fd, len, pos) => {
      const lay = await pl.call(proc, fd, len, pos);
      if (lay === null) return null;
      const l = encodeLayout(lay, images);
      return l === null ? null : { n: lay.n, l };
    };
  }

  /** read (position undefined) or pread of up to `len` bytes into a pooled buffer, returned to the pool on failure. */
  private async pooledRead(proc: ServedProc, fd: number, len: number, pos: number | undefined): Promise<{ n: number; data: Uint8Array; pooled: Uint8Array }> {
    const pooled = this.server.readBuffers.get(len);
    const buf = pooled.subarray(0, len);
    try {
      const n = pos === undefined ? await proc.read(fd, buf) : await proc.pread(fd, buf, pos);
      return { n, data: buf.subarray(0, n), pooled };
    } catch (e) {
      this.server.readBuffers.put(pooled);
      throw e;
    }
  }

  private async syscall(p: unknown, op: string, a: unknown, data: Uint8Array | undefined): Promise<Reply> {
    const proc = typeof p === 'number' ? this.procs.get(p) : undefined;
    if (proc === undefined) throw new KernelError('ESRCH', `sysproxy: no process ${String(p).slice(0, 20)} on this connection`);
    const spec = SYSCALL_OPS.get(op);
    if (spec === undefined) throw new KernelError('ENOSYS', `sysproxy: unknown system call ${op.slice(0, 40)}`);
    const bad = checkArgs(spec, a);
    if (bad !== null) throw new KernelError('EINVAL', `sysproxy: ${op}: ${bad}`);
    if (spec.dataIn && data === undefined) data = new Uint8Array(0);
    const args = (a as unknown[]).map((v) => (v === null ? undefined : v));
    switch (op) {
      case 'read':
      case 'pread': {
        const len = args[1] as number;
        if (len < 0 || len > MAX_IO) throw new KernelError('EINVAL', `sysproxy: ${op} of ${len} bytes`);
        const res = await this.pooledRead(proc, args[0] as number, len, op === 'read' ? undefined : (args[2] as number));
        return { r: res.n, data: res.data, pooled: res.pooled };
      }
      case 'openread': {
        // The separate calls, run here back to back: one round trip instead of three or four.
        const len = args[2] as number;
        if (len < 0 || len > MAX_IO) throw new KernelError('EINVAL', `sysproxy: ${op} of ${len} bytes`);
        const bad = badOpenReadFlags(args[1] as number);
        if (bad !== null) throw new KernelError('EINVAL', `sysproxy: ${bad}`).withContext('open', args[0] as string);
        // The reply buffer is sized by the file (a small file takes a small pooled buffer, not `len`);
        // when the file turns out longer than its status said, it stays open and the client reads on.
        let pooled: Uint8Array | undefined;
        let res;
        try {
          res = await openReadLocal(proc, args[0] as string, args[1] as number, (st) => {
            const guess = Number.isSafeInteger(st.size) && st.size >= 0 ? Math.min(len, st.size + 1) : len;
            pooled = this.server.readBuffers.get(guess);
            return pooled.subarray(0, Math.min(pooled.length, len));
          });
        } catch (e) {
          if (pooled !== undefined) this.server.readBuffers.put(pooled);
          throw e;
        }
        return { r: { fd: res.fd, n: res.n, st: packStat(res.stat) }, data: res.buf.subarray(0, res.n), pooled: pooled! };
      }
      case 'readdirplus': {
        // The separate calls (compound.ts on the local process), run here back to back.
        const res = await readdirPlus(proc, args[0] as string, args[1] as number);
        return { r: { d: res.entries, s: res.stats.map((st) => (st === null ? null : packStat(st))) } };
      }
      case 'putfilev': {
        // The separate calls (compound.ts on the local process), file after file.
        const items = putFilesRequest(args[0] as string[], args[1], data!);
        const res = await putFilesLocal(proc, items);
        return { r: res.map((e) => (e === null ? null : { e: errorJson(e) })) };
      }
      case 'lstatv': {
        const sts = await lstatMany(proc, args[0] as string[]);
        return { r: sts.map((st) => (st instanceof KernelError ? { e: errorJson(st) } : packStat(st))) };
      }
      case 'readl': {
        // read (position undefined) or pread, answered with a layout when the file's driver can give one.
        const [fd, len, pos] = args as [number, number, number | undefined];
        if (len < 0 || len > MAX_IO) throw new KernelError('EINVAL', `sysproxy: ${op} of ${len} bytes`);
        const lf = this.layoutFn(proc);
        if (lf !== undefined) {
          const at = pos ?? (await proc.lseek(fd, 0, SEEK_CUR));
          const lay = await lf(fd, len, at);
          if (lay !== null) {
            if (pos === undefined) await proc.lseek(fd, at + lay.n, SEEK_SET);
            return { r: lay };
          }
        }
        const res = await this.pooledRead(proc, fd, len, pos);
        return { r: { n: res.n }, data: res.data, pooled: res.pooled };
      }
      case 'openreadv': {
        // openread file after file, the bytes packed into one pooled buffer: one reply for them all.
        const [paths, flags, maxEach, maxTotal, wantLayouts] = args as [string[], number, number, number, number | undefined];
        if (maxTotal < 1 || maxTotal > MAX_IO || maxEach < 1 || maxEach > maxTotal) {
          throw new KernelError('EINVAL', `sysproxy: ${op} of ${maxEach}/${maxTotal} bytes`);
        }
        const bad = badOpenReadFlags(flags);
        if (bad !== null) throw new KernelError('EINVAL', `sysproxy: ${bad}`).withContext('open', paths[0]);
        const pooled = this.server.readBuffers.get(maxTotal);
        let res;
        try {
          const lf = wantLayouts === 1 ? this.layoutFn(proc) : undefined;
          const atStart: LayoutFn | undefined = lf && ((fd, len) => lf(fd, len, 0));
          res = await openReadManyLocal(proc, paths, flags, maxEach, pooled.subarray(0, maxTotal), atStart);
        } catch (e) {
          this.server.readBuffers.put(pooled);
          throw e;
        }
        const items = res.items.map((it) =>
          'error' in it ? { e: errorJson(it.error) } : it.l !== undefined ? { fd: it.fd, n: it.n, st: packStat(it.stat), l: it.l } : { fd: it.fd, n: it.n, st: packStat(it.stat) },
        );
        return { r: items, data: pooled.subarray(0, res.packed), pooled };
      }
      case 'write':
        return { r: await proc.write(args[0] as number, data!) };
      case 'pwrite':
        return { r: await proc.pwrite(args[0] as number, data!, args[1] as number) };
      case 'setxattr':
        await proc.setxattr(args[0] as string, args[1] as string, data!, args[2] as never);
        return {};
      case 'getxattr': {
        const v = await proc.getxattr(args[0] as string, args[1] as string, args[2] as never);
        return { r: v.length, data: v };
      }
      case 'getdents': {
        const max = args[1] === undefined ? undefined : Math.min(Math.max(args[1] as number, 1), MAX_DIRENTS);
        return { r: await proc.getdents(args[0] as number, max) };
      }
      default: {
        const fn = (proc as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[op];
        if (typeof fn !== 'function') throw new KernelError('ENOSYS', `sysproxy: ${op}`);
        const r = await fn.apply(proc, args);
        return { r: r === undefined ? null : r };
      }
    }
  }

  /** The connection is gone: its processes exit, closing what they left open. */
  async cleanup(): Promise<void> {
    const procs = [...this.procs.values()];
    this.procs.clear();
    for (const proc of procs) await proc.exit?.().catch(() => undefined);
  }
}

/** The error reply for anything a call threw. Only KernelErrors keep their errno; anything else is a server bug (EIO). */
export function errorJson(e: unknown): Record<string, unknown> {
  if (e instanceof KernelError) {
    const j: Record<string, unknown> = { code: e.code };
    if (e.detail !== undefined) j['detail'] = e.detail;
    if (e.syscall !== undefined) j['syscall'] = e.syscall;
    if (e.path !== undefined) j['path'] = e.path;
    if (e.dest !== undefined) j['dest'] = e.dest;
    return j;
  }
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { code: 'EIO', detail: `sysproxy server: internal error: ${msg.slice(0, 500)}` };
}

/**
 * A server that could not start (an image that would not open, a component
 * that would not load) still answers the handshake: with the error, so the
 * client's startKernel() rejects with it instead of a bare "server exited".
 */
export function refuse(channel: Channel, e: unknown, onDone?: () => void): void {
  channel.onMessage((m) => {
    channel.send({ kind: Kind.Error, id: m.id, json: errorJson(e) });
    channel.close('refused');
    onDone?.();
  });
}

/** The files of a putfilev request, checked: what each is, its bytes, and that they add up (EINVAL otherwise). */
function putFilesRequest(paths: string[], meta: unknown, data: Uint8Array): PutFileItem[] {
  const fail = (why: string) => new KernelError('EINVAL', `sysproxy: putfilev: ${why}`).withContext('open', paths[0]);
  const m = meta as { m?: unknown; n?: unknown; a?: unknown } | undefined;
  const ok = (v: unknown): v is unknown[] => Array.isArray(v) && v.length === paths.length;
  if (m === undefined || !ok(m.m) || !ok(m.n) || !ok(m.a) || Object.keys(m).length !== 3) throw fail('modes, sizes and attributes do not match the paths');
  const items: PutFileItem[] = [];
  let at = 0;
  for (let i = 0; i < paths.length; i++) {
    const mode = m.m[i];
    const n = m.n[i];
    if (!Number.isSafeInteger(mode) || !Number.isSafeInteger(n) || (n as number) < 0 || at + (n as number) > data.length) throw fail(`file ${i}: bad mode or size`);
    const attrs = checkPutAttrs(m.a[i]);
    if (typeof attrs === 'string') throw fail(`file ${i}: ${attrs}`);
    items.push({ path: paths[i]!, mode: mode as number, data: data.subarray(at, at + (n as number)), attrs });
    at += n as number;
  }
  if (at !== data.length) throw fail(`${data.length} bytes sent for ${at}`);
  const bad = badPutFiles(items);
  if (bad !== null) throw fail(bad);
  return items;
}
