/**
 * The block-device interface every file system reads and writes through,
 * and the simple devices: host-backed (through rumpuser), memory-backed, and
 * a byte range of another device (a partition wedge). Offsets and lengths are
 * in bytes; callers keep them multiples of `sectorSize`.
 */

import { KernelError } from '../kern/error.js';
import type { HostFile } from '../rumpuser/types.js';

export interface BlockDevice {
  /** For messages: '/dev/img0', a host path, 'memory'. */
  readonly name: string;
  readonly sectorSize: number;
  /** Capacity in bytes. */
  readonly size: number;
  readonly readonly: boolean;
  /** Fills all of `buf` from byte `offset`. EIO past the end. */
  read(buf: Uint8Array, offset: number): Promise<void>;
  /**
   * read() done at once when the device can (a host file whose reads are synchronous, see HostFile.readNow):
   * true when `buf` is filled, false when the caller must read(). Wrappers that change what reads see do not
   * have it.
   */
  readNow?(buf: Uint8Array, offset: number): boolean;
  /** Writes all of `buf` at byte `offset`. EROFS on a read-only device, EIO past the end. */
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes earlier writes durable. */
  flush(): Promise<void>;
  /** Releases the device; the owner of the device calls it, not the file system. */
  close(): Promise<void>;
  /**
   * Where the `len` bytes at `offset` live in a host file, when reading them there is exactly what
   * read() does: a read-only host file under no overlay, cache or fault injection. Another process
   * with the same file open may then read file data itself (sysproxy's layouts). Absent (wrappers
   * that change what reads see do not have it) or null: only read() tells.
   */
  hostExtent?(offset: number, len: number): HostExtent | null;
}

/** A byte range's place in a host file (BlockDevice.hostExtent). */
export interface HostExtent {
  path: string;
  offset: number;
}

export function checkRange(dev: BlockDevice, len: number, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + len > dev.size) {
    throw new KernelError('EIO', `${dev.name}: I/O of ${len} bytes at ${offset} is outside the device (${dev.size} bytes)`);
  }
}

export class MemoryDevice implements BlockDevice {
  readonly sectorSize: number;
  readonly readonly: boolean;
  readonly name: string;

  constructor(
    public bytes: Uint8Array,
    opts: { readonly?: boolean; sectorSize?: number; name?: string } = {},
  ) {
    this.readonly = opts.readonly ?? false;
    this.sectorSize = opts.sectorSize ?? 512;
    this.name = opts.name ?? 'memory';
  }

  static zeroed(size: number, opts: { sectorSize?: number; name?: string } = {}): MemoryDevice {
    return new MemoryDevice(new Uint8Array(size), opts);
  }

  get size(): number {
    return this.bytes.length;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    checkRange(this, buf.length, offset);
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) throw new KernelError('EROFS', `${this.name}: device is read-only`);
    checkRange(this, buf.length, offset);
    this.bytes.set(buf, offset);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A device over a host file opened through rumpuser. */
export class HostDevice implements BlockDevice {
  readonly sectorSize = 512;

  private constructor(
    private readonly file: HostFile,
    readonly size: number,
    readonly name: string,
  ) {}

  static async open(file: HostFile, name = file.path): Promise<HostDevice> {
    const size = await file.size();
    return new HostDevice(file, size - (size % 512), name);
  }

  get readonly(): boolean {
    return this.file.readonly;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    checkRange(this, buf.length, offset);
    const n = await this.file.read(buf, offset);
    if (n !== buf.length) throw new KernelError('EIO', `${this.name}: short read at ${offset}`);
  }

  readNow(buf: Uint8Array, offset: number): boolean {
    if (this.file.readNow === undefined) return false;
    checkRange(this, buf.length, offset);
    const n = this.file.readNow(buf, offset);
    if (n === undefined) return false;
    if (n !== buf.length) throw new KernelError('EIO', `${this.name}: short read at ${offset}`);
    return true;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) throw new KernelError('EROFS', `${this.name}: device is read-only`);
    checkRange(this, buf.length, offset);
    await this.file.write(buf, offset);
  }

  hostExtent(offset: number, len: number): HostExtent | null {
    // A file open for writing may change under a reader that bypasses this device.
    if (!this.file.readonly) return null;
    checkRange(this, len, offset);
    return { path: this.file.path, offset };
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** A byte range of another device: a partition (NetBSD's dk(4) wedge) or an etfs range. */
export class SubDevice implements BlockDevice {
  readonly sectorSize: number;
  readonly readonly: boolean;

  constructor(
    private readonly parent: BlockDevice,
    readonly start: number,
    readonly size: number,
    readonly name: string,
    opts: { readonly?: boolean } = {},
  ) {
    if (start < 0 || start + size > parent.size) {
      throw new KernelError('EINVAL', `${name}: range ${start}+${size} outside ${parent.name}`);
    }
    this.sectorSize = parent.sectorSize;
    this.readonly = parent.readonly || (opts.readonly ?? false);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    checkRange(this, buf.length, offset);
    return this.parent.read(buf, this.start + offset);
  }

  readNow(buf: Uint8Array, offset: number): boolean {
    if (this.parent.readNow === undefined) return false;
    checkRange(this, buf.length, offset);
    return this.parent.readNow(buf, this.start + offset);
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) throw new KernelError('EROFS', `${this.name}: device is read-only`);
    checkRange(this, buf.length, offset);
    return this.parent.write(buf, this.start + offset);
  }

  hostExtent(offset: number, len: number): HostExtent | null {
    if (this.parent.hostExtent === undefined) return null;
    checkRange(this, len, offset);
    return this.parent.hostExtent(this.start + offset, len);
  }

  flush(): Promise<void> {
    return this.parent.flush();
  }

  async close(): Promise<void> {}
}

/**
 * A device that passes everything to the device it wraps; wrappers (read-only views, fault injection,
 * write recording) override what they change.
 */
export class DeviceWrapper implements BlockDevice {
  constructor(protected readonly dev: BlockDevice) {}
  get name(): string {
    return this.dev.name;
  }
  get sectorSize(): number {
    return this.dev.sectorSize;
  }
  get size(): number {
    return this.dev.size;
  }
  get readonly(): boolean {
    return this.dev.readonly;
  }
  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.dev.read(buf, offset);
  }
  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.dev.write(buf, offset);
  }
  flush(): Promise<void> {
    return this.dev.flush();
  }
  close(): Promise<void> {
    return this.dev.close();
  }
}

/** A read-only view of a device: writes answer EROFS, whatever the device underneath allows. */
export class ReadOnlyDevice extends DeviceWrapper {
  override get readonly(): boolean {
    return true;
  }
  override async write(): Promise<void> {
    throw new KernelError('EROFS', `${this.dev.name}: device is read-only`);
  }
  /** Reads are the device's own: so is where their bytes lie, and so is reading at once. */
  hostExtent(offset: number, len: number): HostExtent | null {
    return this.dev.hostExtent?.(offset, len) ?? null;
  }
  readNow(buf: Uint8Array, offset: number): boolean {
    return this.dev.readNow?.(buf, offset) ?? false;
  }
  override async flush(): Promise<void> {}
  override async close(): Promise<void> {}
}
