/**
 * The hypercall interface: everything the kernel needs from its host, and the
 * only boundary through which it reaches the host (NetBSD's rumpuser.h).
 * Kept short and versioned. Errors are KernelErrors with the host's errno.
 */

export const RUMPUSER_VERSION = 1;

/** A host file opened as a block store. */
export interface HostFile {
  readonly path: string;
  readonly readonly: boolean;
  /** Size in bytes (for a block device: its capacity). */
  size(): Promise<number>;
  /** Reads `buf.length` bytes at `offset` into `buf`; returns bytes read (short only at end of file). */
  read(buf: Uint8Array, offset: number): Promise<number>;
  /** read() done synchronously when the host does small reads so (bytes read), or undefined: read() then. */
  readNow?(buf: Uint8Array, offset: number): number | undefined;
  /** Writes all of `buf` at `offset`. EROFS on a read-only open. */
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes earlier writes durable (fdatasync). No-op for a read-only open. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Timespec {
  sec: number;
  nsec: number;
}

export interface Hypercalls {
  readonly version: number;
  /** Opens a host file; read-only opens never write to it. `create` makes it when missing (read-write only). */
  open(path: string, opts: { readonly: boolean; create?: boolean }): Promise<HostFile>;
  /** Wall-clock time. */
  clockRealtime(): Timespec;
  /** Monotonic nanoseconds, for timeouts and benchmarks. */
  clockMonotonic(): bigint;
  /** Fills `buf` with random bytes. */
  random(buf: Uint8Array): void;
  /** One line on the kernel console (no trailing newline). */
  console(line: string): void;
}
