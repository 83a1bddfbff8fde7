/**
 * A progress bar on stderr for long copies, tar and mkfs, shown only when
 * stderr is a terminal (never in pipes, logs or tests), built on cli-progress.
 */

import type cliProgressTypes from 'cli-progress';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { humanSize } from './format.js';

/** cli-progress, loaded the first time a bar is shown (only on a terminal): no cost for the commands' cold start. */
function cliProgress(): typeof cliProgressTypes {
  return createRequire(import.meta.url)('cli-progress') as typeof cliProgressTypes;
}

export class Progress {
  readonly enabled: boolean;
  private bar: cliProgressTypes.SingleBar | undefined;
  private value = 0;
  private total = 0;

  constructor(private readonly stream: Writable & { isTTY?: boolean }) {
    this.enabled = stream.isTTY === true;
  }

  /** Starts (or restarts with a larger total) a bar for `total` bytes. */
  start(total: number): void {
    if (!this.enabled) return;
    this.total += total;
    if (!this.bar) {
      const cp = cliProgress();
      this.bar = new cp.SingleBar(
        {
          stream: this.stream as NodeJS.WritableStream,
          format: ' {bar} {percentage}% | {done} of {all} | {eta_formatted}',
          hideCursor: true,
          clearOnComplete: true,
          fps: 10,
        },
        cp.Presets.shades_classic,
      );
      this.bar.start(this.total, this.value, { done: humanSize(this.value), all: humanSize(this.total) });
    } else this.bar.setTotal(this.total);
  }

  add(n: number): void {
    this.value += n;
    this.bar?.update(this.value, { done: humanSize(this.value), all: humanSize(this.total) });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
