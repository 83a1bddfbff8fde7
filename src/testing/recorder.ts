/**
 * A block device that records every write and flush of the device it wraps,
 * for crash simulation: the log can be replayed, in whole or in part, onto a
 * copy of the image as it was before the workload.
 */

import type { BlockDevice } from '../dev/blockdev.js';

export type LogEntry = { kind: 'write'; offset: number; data: Uint8Array } | { kind: 'flush' };

export class RecordingDevice implements BlockDevice {
  readonly log: LogEntry[] = [];
  recording = true;

  constructor(private readonly dev: BlockDevice) {}

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

  async write(buf: Uint8Array, offset: number): Promise<void> {
    await this.dev.write(buf, offset);
    if (this.recording) this.log.push({ kind: 'write', offset, data: buf.slice() });
  }

  async flush(): Promise<void> {
    await this.dev.flush();
    if (this.recording) this.log.push({ kind: 'flush' });
  }

  close(): Promise<void> {
    return this.dev.close();
  }

  /** Number of writes recorded. */
  get writes(): number {
    return this.log.filter((e) => e.kind === 'write').length;
  }
}

/** Applies the writes `which` (indexes into the write-only sequence) of a log onto `image`, in log order. */
export function applyWrites(image: Uint8Array, writes: readonly { offset: number; data: Uint8Array }[], which: Iterable<number>): Uint8Array {
  const out = image.slice();
  for (const i of which) {
    const w = writes[i]!;
    out.set(w.data, w.offset);
  }
  return out;
}
