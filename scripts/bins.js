#!/usr/bin/env node
// After a build: the commands named in package.json's "bin" are executable (tsc writes plain files),
// so a global link made before a rebuild still runs them.
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of Object.values(pkg.bin ?? {})) chmodSync(new URL(`../${file}`, import.meta.url), 0o755);
