/**
 * The driver developer's loop: time from saving a file of a component to the
 * end of `rump test --watch <component>`'s re-run of that component's tests.
 */

import { spawn } from 'node:child_process';
import { utimesSync } from 'node:fs';
import { median, type Result } from './lib.js';

export async function watchBenchmarks(component = 'toyfs'): Promise<Result[]> {
  const cli = new URL('../src/cli/main.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, 'test', '--watch', component], { stdio: ['ignore', 'ignore', 'pipe'] });
  let buf = '';
  const waiters: ((line: string) => void)[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('rump test:')) waiters.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('rump test --watch did not report within 60 s')), 60_000);
    waiters.push((l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
  try {
    await next(); // the first run
    await next(); // "watching"
    const samples: number[] = [];
    const file = `src/fs/${component}/index.ts`;
    for (let i = 0; i < 5; i++) {
      const done = next();
      const t0 = performance.now();
      const now = new Date();
      utimesSync(file, now, now);
      const line = await done;
      if (!line.includes('passed')) throw new Error(line);
      samples.push(performance.now() - t0);
    }
    return [{ name: `rump test --watch ${component}: change to re-run done`, value: median(samples), unit: 'ms' }];
  } finally {
    child.kill();
  }
}
