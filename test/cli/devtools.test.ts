// The developer commands' contracts: `rump crashsim`, `rump fuzz` and `rump faults` end with their summary lines, are
// reproducible from the seed, and refuse what they cannot do with a one-line message (exit 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { tempDir } from '../../src/testing/tools.js';

async function rumpDev(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await main(args, { stdin: Readable.from([]), stdout, stderr, env: {} });
  return { code, out, err };
}

test('crashsim: the summary line, the same for the same seed', async () => {
  const a = await rumpDev(['crashsim', '-t', 'toyfs', '--seed', '3']);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /\n(\d+) prefixes checked, (\d+) inconsistent, (\d+) fsynced files lost\n$/);
  const b = await rumpDev(['crashsim', '-t', 'toyfs', '--seed', '3']);
  assert.equal(b.out, a.out);
  assert.equal(b.err, a.err);
});

test('crashsim refuses read-only and device-less components with one line', async () => {
  for (const t of ['cd9660', 'tmpfs']) {
    const r = await rumpDev(['crashsim', '-t', t]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^rump: [^\n]+\n$/);
    assert.doesNotMatch(r.err, /internal error|at .*\.js/);
  }
});

test('fuzz: the summary line and exit 0 without violations; reproducers go to --corpus', async () => {
  const corpus = await tempDir('rump-fuzz-');
  try {
    const r = await rumpDev(['fuzz', '-t', 'toyfs', '--seed', '5', '--cases', '30', '--corpus', corpus.path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /(^|\n)30 cases, 0 violations\n$/);
  } finally {
    await corpus.cleanup();
  }
});

test('faults: the summary line, the same for the same seed; exit 0 without violations', async () => {
  const args = ['faults', '-t', 'toyfs', '--seed', '3', '--rounds', '2', '--fraction', '0.2', '--tear'];
  const a = await rumpDev(args);
  assert.equal(a.code, 0, a.err);
  const m = /\n(\d+) rounds, (\d+) faults injected, (\d+) violations, (\d+) inconsistent after remount\n$/.exec(a.out);
  assert.ok(m, a.out);
  assert.equal(m[1], '2');
  assert.ok(Number(m[2]) > 0);
  assert.equal(m[3], '0');
  const b = await rumpDev(args);
  assert.equal(b.out, a.out);
  assert.equal(b.err, a.err);
});

test('faults refuses read-only and device-less components, and bad numbers, with one line', async () => {
  for (const args of [['-t', 'cd9660'], ['-t', 'tmpfs'], ['-t', 'toyfs', '--fraction', '1.5'], ['-t', 'toyfs', '--rounds', '0']]) {
    const r = await rumpDev(['faults', ...args]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, /^rump: [^\n]+\n$/);
    assert.doesNotMatch(r.err, /internal error|at .*\.js/);
  }
});
