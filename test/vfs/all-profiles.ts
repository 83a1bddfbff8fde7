/**
 * The heavy run: the whole cross-file-system suite over every component's
 * profiles (src/fs/<name>/profile.ts), not only those in src/fs/profiles.ts.
 * Minutes, not seconds (each body on a device-backed profile costs a fresh
 * image and a real checker run), so it is a script rather than part of the
 * regular test run:
 *
 *   node --import tsx --test test/vfs/all-profiles.ts                  every area
 *   AREAS=rename,io node --import tsx --test test/vfs/all-profiles.ts  some areas
 *   RUMP_FS=ext4,fat32 node --import tsx --test test/vfs/all-profiles.ts
 */

import { readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registerProfiles } from '../../src/testing/fsapply.js';
import type { FsTestProfile } from '../../src/testing/profile.js';

const here = dirname(fileURLToPath(import.meta.url));
const fsDir = join(here, '..', '..', 'src', 'fs');
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

for (const name of readdirSync(fsDir).sort()) {
  const file = join(fsDir, name, `profile.${ext}`);
  if (!existsSync(file)) continue;
  const m = (await import(pathToFileURL(file).href)) as { profiles?: FsTestProfile[] };
  if (m.profiles) registerProfiles(m.profiles);
}

const wanted = process.env['AREAS']?.split(',').map((s) => s.trim());
for (const f of readdirSync(here).sort()) {
  const area = f.replace(/\.test\.(ts|js)$/, '');
  if (area === f || area === 'harness' || (wanted && !wanted.includes(area))) continue;
  await import(pathToFileURL(join(here, f)).href);
}
