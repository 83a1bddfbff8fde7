/**
 * `npm run bench [-- --json] [-- --only NAME] [-- --all]`: runs the benchmark groups and
 * prints a table of medians (or JSON lines). Groups that need large fixtures
 * (the Linux source tree) say so and how to prepare them.
 */

import { kernelBenchmarks } from './kernel.js';
import { watchBenchmarks } from './watch.js';
import { ext2fsBenchmarks } from './ext2fs.js';
import { ext2fsPeerBenchmarks } from './ext2fs-peers.js';
import { fuseBenchmarks } from './fuse.js';
import { msdosfsBenchmarks } from './msdosfs.js';
import { sysproxyBenchmarks } from './sysproxy.js';
import { ffsBenchmarks } from './ffs.js';
import { cd9660Benchmarks } from './cd9660.js';
import { report, type Result } from './lib.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;

const groups: Record<string, () => Promise<Result[]>> = {
  kernel: kernelBenchmarks,
  watch: () => watchBenchmarks('toyfs'),
  ext2fs: ext2fsBenchmarks,
  'ext2fs-peers': ext2fsPeerBenchmarks,
  fuse: fuseBenchmarks,
  msdosfs: msdosfsBenchmarks,
  sysproxy: sysproxyBenchmarks,
  ffs: ffsBenchmarks,
  cd9660: cd9660Benchmarks,
};

/** Groups that need the Linux-source fixtures (minutes to make once): run with --all or --only NAME. */
const heavy = new Set(['ext2fs', 'ext2fs-peers', 'fuse', 'msdosfs', 'sysproxy', 'ffs', 'cd9660']);

const results: Result[] = [];
for (const [name, fn] of Object.entries(groups)) {
  if (only ? only !== name : heavy.has(name) && !args.includes('--all')) continue;
  results.push(...(await fn()));
}
report(results, json);
