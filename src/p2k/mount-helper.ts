#!/usr/bin/env node
/**
 * mount.rump: the helper mount(8) runs for `mount -t rump` and for fstab lines of type rump, with the
 * arguments helpers get (`SOURCE TARGET [-sfnv] [-N ns] [-o OPTIONS] [-t TYPE]`). It mounts in the background
 * with rumpMount and exits 0 once the mount is ready, or 32 (mount failure, as mount(8) reports it).
 * Install it as /sbin/mount.rump (a link to the compiled file).
 */

import { rumpMount } from './mount.js';
import { parseRumpOptions } from './options.js';

async function main(argv: string[]): Promise<number> {
  const positional: string[] = [];
  let opts = '';
  let fake = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o') opts = opts ? `${opts},${argv[++i] ?? ''}` : (argv[++i] ?? '');
    else if (a.startsWith('-o') && a.length > 2) opts = opts ? `${opts},${a.slice(2)}` : a.slice(2);
    else if (a === '-t' || a === '-N') i++;
    else if (a === '-f') fake = true;
    else if (a === '-v') verbose = true;
    else if (a === '-s' || a === '-n') continue;
    else if (a.startsWith('-')) {
      process.stderr.write(`mount.rump: unknown option ${a}\n`);
      return 1;
    } else positional.push(a);
  }
  if (positional.length !== 2) {
    process.stderr.write('usage: mount.rump SOURCE TARGET [-o type=TYPE,ro|rw,allow_other,...]\n');
    return 1;
  }
  const [source, target] = positional as [string, string];
  try {
    const p = parseRumpOptions(opts);
    const noImage = p.type === 'tmpfs';
    if (fake) return 0;
    const r = await rumpMount({
      ...(noImage ? {} : { image: source }),
      mountpoint: target,
      ...(p.type !== undefined ? { type: p.type } : {}),
      ...(p.partition !== undefined ? { partition: p.partition } : {}),
      options: p.options,
    });
    if (verbose) process.stderr.write(`mount.rump: ${source} mounted on ${target} (daemon ${r.pid})\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`mount.rump: ${(e as Error).message}\n`);
    return 32;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
