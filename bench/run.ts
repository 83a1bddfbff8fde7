/**
 * `npm run bench [-- --json] [-- --only NAME]`: runs every benchmark group and
 * prints a table of medians (or JSON lines). Groups that need large fixtures
 * (the Linux source tree) say so and how to prepare them.
 */

import { kernelBenchmarks } from './kernel.js';
import { watchBenchmarks } from './watch.js';
import { report, type Result } from './lib.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;

const groups: Record<string, () => Promise<Result[]>> = {
  kernel: kernelBenchmarks,
  watch: () => watchBenchmarks('toyfs'),
};

const results: Result[] = [];
for (const [name, fn] of Object.entries(groups)) {
  if (only && only !== name) continue;
  results.push(...(await fn()));
}
report(results, json);
