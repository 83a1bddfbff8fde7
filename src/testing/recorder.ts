/**
 * A block device that records every write and flush of the device it wraps,
 * for crash simulation: the log can be replayed, in whole or in part, onto a
 * copy of the image as it was before the workload.
 */

import { DeviceWrapper } from '../dev/blockdev.js';

export type LogEntry = { kind: 'write'; offset: number; data: Uint8Array } | { kind: 'flush' };

export class RecordingDevice extends DeviceWrapper {
  readonly log: LogEntry[] = [];
  recording = true;

  override async write(buf: Uint8Array, offset: number): Promise<void> {
    await this.dev.write(buf, offset);
    if (this.recording) this.log.push({ kind: 'write', offset, data: buf.slice() });
  }

  override async flush(): Promise<void> {
    await this.dev.flush();
    if (this.recording) this.log.push({ kind: 'flush' });
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
