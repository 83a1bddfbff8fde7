/**
 * In-memory hypercalls: host "files" are ArrayBuffers in a table. For tests
 * and, later, browsers. Deterministic when given a fixed clock and seed.
 */

import { KernelError } from '../kern/error.js';
import { RUMPUSER_VERSION, type HostFile, type Hypercalls, type Timespec } from './types.js';

export class MemoryHostFile implements HostFile {
  constructor(
    readonly path: string,
    readonly readonly: boolean,
    private readonly store: { bytes: Uint8Array },
  ) {}

  async size(): Promise<number> {
    return this.store.bytes.length;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    return this.readNow(buf, offset);
  }

  /** Memory is read at once, whatever the size. */
  readNow(buf: Uint8Array, offset: number): number {
    const src = this.store.bytes;
    if (offset >= src.length) return 0;
    const n = Math.min(buf.length, src.length - offset);
    buf.set(src.subarray(offset, offset + n));
    return n;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) throw new KernelError('EROFS', `rumpuser: ${this.path} is open read-only`);
    const end = offset + buf.length;
    if (end > this.store.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.store.bytes.length * 2));
      grown.set(this.store.bytes);
      this.store.bytes = grown.subarray(0, end);
    }
    this.store.bytes.set(buf, offset);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export class MemoryHypercalls implements Hypercalls {
  readonly version = RUMPUSER_VERSION;
  readonly files = new Map<string, { bytes: Uint8Array }>();
  readonly lines: string[] = [];
  private seed: number;
  private fixedTime: Timespec | undefined;
  private mono = 0n;

  constructor(opts: { seed?: number; time?: Timespec; echo?: boolean } = {}) {
    this.seed = opts.seed ?? 1;
    this.fixedTime = opts.time;
    if (opts.echo) this.echo = true;
  }
  private echo = false;

  /** Registers `bytes` as the host file `path` (shared, not copied). */
  addFile(path: string, bytes: Uint8Array): void {
    this.files.set(path, { bytes });
  }

  fileBytes(path: string): Uint8Array | undefined {
    return this.files.get(path)?.bytes;
  }

  async open(path: string, opts: { readonly: boolean; create?: boolean }): Promise<HostFile> {
    let store = this.files.get(path);
    if (!store) {
      if (opts.readonly || !opts.create) throw new KernelError('ENOENT').withContext('rumpuser_open', path);
      store = { bytes: new Uint8Array(0) };
      this.files.set(path, store);
    }
    return new MemoryHostFile(path, opts.readonly, store);
  }

  clockRealtime(): Timespec {
    if (this.fixedTime) return { ...this.fixedTime };
    const ms = Date.now();
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
  }

  clockMonotonic(): bigint {
    if (this.fixedTime) return (this.mono += 1000n);
    return BigInt(Math.round(performance.now() * 1e6));
  }

  random(buf: Uint8Array): void {
    // xorshift32: reproducible from the seed.
    let x = this.seed || 1;
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x & 0xff;
    }
    this.seed = x;
  }

  console(line: string): void {
    this.lines.push(line);
    if (this.echo) console.error(`[kernel] ${line}`);
  }
}
