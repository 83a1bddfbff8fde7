#!/usr/bin/env node
// Runs the compiled test suite (dist/test/**/*.test.js) with node's test runner, all files in parallel.
import { accessSync, chmodSync, constants, mkdtempSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect('dist/test', []).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
// Most test time is spent waiting on real tools and server processes, so run twice as many files as cores.
const concurrency = Math.max(4, 2 * availableParallelism());
const preload = fileURLToPath(new URL('./test-preload.js', import.meta.url));
// Scratch files (images made by the real tools, trees, mount points) go to a memory file system when
// the machine has one and TMPDIR is not chosen: a third less system time than a disk-backed /tmp. The
// directory is world-writable and sticky like /tmp, for the tests that run as unprivileged users.
let scratch;
if (!process.env.TMPDIR) {
  try {
    accessSync('/dev/shm', constants.W_OK);
    // The tests keep a few GiB of images there at the peak; a small /dev/shm (a container's 64 MiB) is not used.
    const fsStat = statfsSync('/dev/shm');
    if (fsStat.bavail * fsStat.bsize < 4 * 1024 ** 3) throw new Error('/dev/shm is small');
    scratch = mkdtempSync('/dev/shm/anykernel-test-');
    chmodSync(scratch, 0o1777);
  } catch {
    scratch = undefined;
  }
}
const env = scratch ? { ...process.env, TMPDIR: scratch } : process.env;
const r = spawnSync(process.execPath, ['--import', preload, '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', env });
if (scratch) rmSync(scratch, { recursive: true, force: true });
process.exit(r.status ?? 1);
