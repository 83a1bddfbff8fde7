/**
 * `rump test [--watch] [--suite] [PATTERN...]`: the driver developer's loop.
 * A PATTERN naming a component (toyfs, ext2fs, msdosfs, ...) runs that
 * component's tests (test/fs/<name>/), and with --suite also the
 * cross-file-system suite restricted to it (RUMP_FS); any other PATTERN
 * selects test files whose path contains it. All selected files run in one
 * process, with TypeScript compiled on the fly, so a component's tests start
 * in a fraction of a second. --watch re-runs them whenever a file under src/
 * or test/ changes; a change inside src/fs/<name>/ re-runs <name>'s tests.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, watch } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface TestCommandOptions {
  patterns: string[];
  watch?: boolean;
  suite?: boolean;
  /** Repository root (default: the current directory). */
  root?: string;
  /** Called with each run's summary and its duration. */
  onRun?: (summary: { code: number; ms: number; files: number }) => void;
}

function collect(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The files and the RUMP_FS restriction for some patterns. */
export function selectTests(root: string, patterns: string[], suite: boolean): { files: string[]; fs: string | undefined } {
  const all = collect(join(root, 'test')).map((f) => relative(root, f)).sort();
  if (patterns.length === 0) return { files: all, fs: undefined };
  const files = new Set<string>();
  const fsNames: string[] = [];
  for (const pat of patterns) {
    const compDir = join('test', 'fs', pat) + sep;
    const own = all.filter((f) => f.startsWith(compDir));
    if (existsSync(join(root, 'src', 'fs', pat))) {
      own.forEach((f) => files.add(f));
      fsNames.push(pat);
      if (suite) all.filter((f) => f.startsWith(join('test', 'vfs') + sep)).forEach((f) => files.add(f));
    } else all.filter((f) => f.includes(pat)).forEach((f) => files.add(f));
  }
  return { files: [...files].sort(), fs: fsNames.length > 0 ? fsNames.join(',') : undefined };
}

function runOnce(root: string, files: string[], fs: string | undefined): { child: ChildProcess; done: Promise<number> } {
  const entry = new URL('./run-files.js', import.meta.url);
  const runner = existsSync(entry) ? entry.pathname : new URL('./run-files.ts', import.meta.url).pathname;
  const env = { ...process.env };
  if (fs) env['RUMP_FS'] = fs;
  const child = spawn(process.execPath, ['--import', 'tsx', '--test-reporter=dot', runner, ...files], { cwd: root, env, stdio: 'inherit' });
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return { child, done };
}

export async function testCommand(opts: TestCommandOptions): Promise<number> {
  const root = opts.root ?? process.cwd();
  if (!existsSync(join(root, 'test')) || !existsSync(join(root, 'src'))) {
    throw new Error('rump test runs in a checkout of the project (no src/ and test/ here)');
  }
  const runSelection = async (patterns: string[]): Promise<number> => {
    const { files, fs } = selectTests(root, patterns, opts.suite ?? false);
    if (files.length === 0) {
      process.stderr.write(`rump: test: no tests match ${patterns.join(' ')}\n`);
      return 1;
    }
    const t0 = performance.now();
    const { done } = runOnce(root, files, fs);
    const code = await done;
    const ms = performance.now() - t0;
    process.stderr.write(`rump test: ${files.length} file(s) ${code === 0 ? 'passed' : 'FAILED'} in ${ms.toFixed(0)} ms\n`);
    opts.onRun?.({ code, ms, files: files.length });
    return code;
  };
  const first = await runSelection(opts.patterns);
  if (!opts.watch) return first;

  let timer: ReturnType<typeof setTimeout> | undefined;
  let changed = new Set<string>();
  let running = false;
  const trigger = (): void => {
    if (running) return;
    const paths = [...changed];
    changed = new Set();
    // A change inside one component re-runs that component; anything else re-runs what was asked for.
    const comps = new Set<string>();
    for (const p of paths) {
      const m = /^src\/fs\/([^/]+)\//.exec(p) ?? /^test\/fs\/([^/]+)\//.exec(p);
      if (m) comps.add(m[1]!);
    }
    const pats = opts.patterns.length > 0 ? opts.patterns : comps.size > 0 ? [...comps] : [];
    running = true;
    void runSelection(pats).finally(() => {
      running = false;
      if (changed.size > 0) trigger();
    });
  };
  for (const dir of ['src', 'test']) {
    watch(join(root, dir), { recursive: true }, (_event, file) => {
      if (!file || !String(file).endsWith('.ts')) return;
      changed.add(join(dir, String(file)).split(sep).join('/'));
      clearTimeout(timer);
      timer = setTimeout(trigger, 30);
    });
  }
  process.stderr.write('rump test: watching src/ and test/ (Ctrl-C to stop)\n');
  return new Promise<number>(() => undefined);
}
