/** Kernel services for code that runs a component outside a booted kernel (a profile's newfs): the host's clock and randomness, no console. */

import { randomFillSync } from 'node:crypto';
import type { KernelServices } from '../vfs/types.js';

export const hostServices: KernelServices = {
  now: () => {
    const ms = Date.now();
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
  },
  log: () => undefined,
  random: (b) => void randomFillSync(b),
  monotonic: () => process.hrtime.bigint(),
};
