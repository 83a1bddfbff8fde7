/**
 * Fuzz reproducers: a violating image saved under test/corpus/<fs>/ (gzip,
 * with a JSON note of the seed, case and violation) and replayed by the
 * ordinary test suite forever after.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Mutation, Violation } from './fuzz.js';

export interface Reproducer {
  fs: string;
  seed: number;
  caseNo: number;
  violation: Violation;
  mutations: Mutation[];
  /** File name of the gzip'd image, next to the note. */
  image: string;
}

export function saveReproducer(dir: string, r: Omit<Reproducer, 'image'>, image: Uint8Array): string {
  const fsDir = join(dir, r.fs);
  mkdirSync(fsDir, { recursive: true });
  const id = createHash('sha256').update(image).digest('hex').slice(0, 16);
  const imgName = `${id}.img.gz`;
  writeFileSync(join(fsDir, imgName), gzipSync(image, { level: 9 }));
  const note: Reproducer = { ...r, image: imgName };
  const notePath = join(fsDir, `${id}.json`);
  writeFileSync(notePath, JSON.stringify(note, null, 2) + '\n');
  return notePath;
}

export function loadReproducers(dir: string): { note: Reproducer; image: Uint8Array; path: string }[] {
  if (!existsSync(dir)) return [];
  const out: { note: Reproducer; image: Uint8Array; path: string }[] = [];
  for (const fs of readdirSync(dir).sort()) {
    const fsDir = join(dir, fs);
    if (!statSync(fsDir).isDirectory()) continue;
    for (const f of readdirSync(fsDir).sort()) {
      if (!f.endsWith('.json')) continue;
      const note = JSON.parse(readFileSync(join(fsDir, f), 'utf8')) as Reproducer;
      out.push({ note, image: new Uint8Array(gunzipSync(readFileSync(join(fsDir, note.image)))), path: join(fsDir, f) });
    }
  }
  return out;
}
