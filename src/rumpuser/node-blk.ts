/** Capacity of a host block device: the offset a seek to its end reaches. */

import { readSync } from 'node:fs';

export function seekEnd(fd: number): number {
  // Node has no lseek; probe the capacity by binary search on single-byte reads.
  const one = Buffer.alloc(1);
  let lo = 0;
  let hi = 1;
  while (readSync(fd, one, 0, 1, hi * 512 - 1) === 1) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 43) break;
  }
  // invariant: byte lo*512-1 readable (or lo == 0), byte hi*512-1 not
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (readSync(fd, one, 0, 1, mid * 512 - 1) === 1) lo = mid;
    else hi = mid;
  }
  return lo * 512;
}
