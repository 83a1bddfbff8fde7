/**
 * A fuzz campaign split over worker threads: each worker runs one contiguous
 * slice of the case numbers on its own kernel, so the cases, and what is
 * found, are those of the same campaign run in one thread (a case depends
 * only on the seed, its number and the image).
 */

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { allComponents } from '../fs/all.js';
import { fuzzCampaign, type CampaignResult, type FuzzTarget, type RunOptions, type Violation } from './fuzz.js';

/** What a worker needs to rebuild the target: components are found again by name. */
export interface JobSpec {
  component: string;
  image: Uint8Array;
  regions?: [number, number][];
  writable: boolean;
  seed: number;
  start: number;
  cases: number;
  opts: RunOptions;
}

type Message =
  | { type: 'progress'; done: number }
  | { type: 'violation'; n: number; violation: Violation }
  | { type: 'done'; result: CampaignResult };

/** How many cases a worker runs between progress messages. */
const REPORT_EVERY = 250;

function targetOf(spec: JobSpec): FuzzTarget {
  const component = allComponents.find((c) => c.name === spec.component);
  if (!component) throw new Error(`no component ${spec.component}`);
  return { component, image: spec.image, writable: spec.writable, ...(spec.regions ? { regions: spec.regions } : {}) };
}

/**
 * Runs cases `start` .. `start + cases - 1` in `jobs` workers. `onProgress`
 * gets the number of cases done so far in all workers; `onViolation` each
 * violating case as it is found (reproducers come with the result).
 */
export async function fuzzCampaignJobs(
  spec: Omit<JobSpec, 'opts'> & { opts?: RunOptions },
  jobs: number,
  hooks: { onProgress?: (done: number) => void; onViolation?: (n: number, v: Violation) => void } = {},
): Promise<CampaignResult> {
  const per = Math.ceil(spec.cases / jobs);
  const done = new Array<number>(jobs).fill(0);
  const results = await Promise.all(Array.from({ length: jobs }, (_, j) => {
    const start = spec.start + j * per;
    const cases = Math.max(0, Math.min(per, spec.start + spec.cases - start));
    const data: JobSpec = { ...spec, start, cases, opts: spec.opts ?? {} };
    return new Promise<CampaignResult>((resolve, reject) => {
      // Run from TypeScript sources (tsx), a worker registers the loader itself before loading this module.
      const w = import.meta.url.endsWith('.ts')
        ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); });`, { eval: true, workerData: data })
        : new Worker(new URL(import.meta.url), { workerData: data });
      let result: CampaignResult | undefined;
      w.on('message', (m: Message) => {
        if (m.type === 'progress') {
          done[j] = m.done;
          hooks.onProgress?.(done.reduce((a, b) => a + b, 0));
        } else if (m.type === 'violation') hooks.onViolation?.(m.n, m.violation);
        else result = m.result;
      });
      w.on('error', reject);
      w.on('exit', (code) => (result ? resolve(result) : reject(new Error(`fuzz worker ${j} exited ${code} without a result`))));
    });
  }));
  const out: CampaignResult = { cases: 0, violations: [] };
  for (const r of results) {
    out.cases += r.cases;
    out.violations.push(...r.violations);
  }
  out.violations.sort((a, b) => a.caseNo - b.caseNo);
  return out;
}

if (!isMainThread && parentPort && (workerData as { component?: unknown } | null)?.component !== undefined) {
  const spec = workerData as JobSpec;
  const port = parentPort;
  let done = 0;
  const result = await fuzzCampaign(targetOf(spec), spec.seed, spec.cases, {
    ...spec.opts,
    start: spec.start,
    onCase: (n, v) => {
      if (v) port.postMessage({ type: 'violation', n, violation: v } satisfies Message);
      if (++done % REPORT_EVERY === 0) port.postMessage({ type: 'progress', done } satisfies Message);
    },
  });
  port.postMessage({ type: 'progress', done } satisfies Message);
  port.postMessage({ type: 'done', result } satisfies Message);
}
