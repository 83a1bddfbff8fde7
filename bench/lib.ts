/**
 * Benchmark plumbing: timing with medians, results as a readable table or as
 * one JSON object per line ({ name, value, unit } plus peer and ratio when a
 * peer ran in the same run).
 */

export interface Result {
  name: string;
  value: number;
  unit: string;
  peer?: string;
  peerValue?: number;
  ratio?: number;
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `runs` times (after `warmup` runs) and returns the median in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>, runs = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(xs);
}

export function withPeer(r: Result, peer: string, peerValue: number): Result {
  // ratio > 1 means we are faster (peer time / our time).
  return { ...r, peer, peerValue, ratio: Number((peerValue / r.value).toFixed(3)) };
}

export function report(results: Result[], json: boolean): void {
  if (json) {
    for (const r of results) {
      const o: Record<string, unknown> = { name: r.name, value: Number(r.value.toPrecision(6)), unit: r.unit };
      if (r.peer !== undefined) {
        o['peer'] = r.peer;
        o['peerValue'] = Number(r.peerValue!.toPrecision(6));
        o['ratio'] = r.ratio;
      }
      if (r.note) o['note'] = r.note;
      process.stdout.write(JSON.stringify(o) + '\n');
    }
    return;
  }
  const rows = results.map((r) => [
    r.name,
    `${r.value.toPrecision(4)} ${r.unit}`,
    r.peer ?? '',
    r.peerValue !== undefined ? `${r.peerValue.toPrecision(4)} ${r.unit}` : '',
    r.ratio !== undefined ? `${r.ratio}x` : '',
  ]);
  const head = ['benchmark (median)', 'value', 'peer', 'peer value', 'peer/ours'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(line(head) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const r of rows) process.stdout.write(line(r) + '\n');
  for (const r of results) if (r.note) process.stdout.write(`  ${r.name}: ${r.note}\n`);
}
