/**
 * The cross-file-system suite (test/vfs/suite) a second time, through a real FUSE mount: every case body gets
 * a process whose system calls are host system calls on the mount point (hostsys.ts), served by rump mount
 * from a kernel in another process. Each case runs in a fresh directory of one tmpfs mount, which it sees as
 * /mnt. Attribute and entry caching are off (timeouts 0) so that every stat reaches the served kernel.
 * Cases that need what a host process cannot be (another user in the same process, a remount of tmpfs, the
 * kernel object) are reported not applicable, as fsApply reports a missing capability.
 *
 * Too slow for the regular run (a minute or more: every call crosses FUSE and a process boundary, xattr and
 * utimens calls start a helper), so it is not named *.test.ts; run it with
 *   node --import tsx --test test/p2k/suite-fuse.run.ts
 */

import { test, before, after } from 'node:test';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { FsTestContext } from '../../src/testing/fsapply.js';
import { missingRequirements } from '../../src/testing/fsapply.js';
import { profiles as tmpfsProfiles } from '../../src/fs/tmpfs/profile.js';
import type { Case } from '../vfs/suite/util.js';
import { cases as access } from '../vfs/suite/access.js';
import { cases as attrs } from '../vfs/suite/attrs.js';
import { cases as dirs } from '../vfs/suite/dirs.js';
import { cases as fixture } from '../vfs/suite/fixture.js';
import { cases as io } from '../vfs/suite/io.js';
import { cases as links } from '../vfs/suite/links.js';
import { cases as lookup } from '../vfs/suite/lookup.js';
import { cases as names } from '../vfs/suite/names.js';
import { cases as readdir } from '../vfs/suite/readdir.js';
import { cases as rename } from '../vfs/suite/rename.js';
import { cases as space } from '../vfs/suite/space.js';
import { cases as xattr } from '../vfs/suite/xattr.js';
import { HostSyscalls } from './hostsys.js';
import { openMount, type TestMount } from './helpers.js';

class NotApplicable extends Error {}

const profile = tmpfsProfiles[0]!;
let m: TestMount;
before(async () => {
  m = await openMount({ type: 'tmpfs', options: { rw: true, fsOptions: 'size=256m', attr_timeout: 0, entry_timeout: 0, negative_timeout: 0 } });
});
after(async () => {
  await m?.close();
});

let n = 0;
async function runCase(c: Case): Promise<string | null> {
  const dir = join(m.mnt, `case-${n++}`);
  await fs.mkdir(dir, { mode: 0o755 });
  const proc = new HostSyscalls(dir);
  await proc.chdir('/mnt');
  const mask = process.umask(0o022);
  const ctx = {
    profile,
    caps: profile.capabilities,
    proc,
    mnt: '/mnt',
    user(): never { throw new NotApplicable('another user in the same host process'); },
    async remount(): Promise<never> { throw new NotApplicable('remount (tmpfs keeps nothing)'); },
    image: () => null,
    get kernel(): never { throw new NotApplicable('the kernel object'); },
  } as unknown as FsTestContext;
  try {
    await c.body(ctx);
    return null;
  } catch (e) {
    if (e instanceof NotApplicable) return e.message;
    throw e;
  } finally {
    process.umask(mask);
    await proc.closeAll();
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Cases whose premise a host process on a subdirectory cannot meet, or where Linux itself answers otherwise
 * than our kernel; each with the reason shown in the report. None is a behaviour of the bridge but the first.
 */
const DIFFERENT = new Map<string, string>([
  ['special files keep their type', 'the bridge refuses device nodes with EPERM by design (docs/fuse.md)'],
  ["rmdir of '.'", "needs chdir('/') and the mount root, outside what the case sees"],
  ['a removed cwd and its removed parent', 'a host process cannot hold a removed cwd by path'],
  ["'..' of the mount root", 'each case sees a subdirectory as /mnt'],
  ['paths of 1024 bytes or more', "the host's PATH_MAX (4096) decides, not our kernel's"],
  ['symlink loops are ELOOP', 'the host follows up to 40 links, our kernel 32'],
  ["the mount root: '.', '..'", 'each case sees a subdirectory as /mnt'],
  ['across mounts is EXDEV', 'other mounts are outside what the case sees'],
  ['the mount root itself is EBUSY', 'each case sees a subdirectory as /mnt'],
  ['statvfs: the numbers are consistent', "statvfs('/') is outside what the case sees"],
  ["a link to '/' resolves to the root", 'absolute symlink targets resolve on the host'],
  ['relative targets resolve from the directory', 'absolute symlink targets resolve on the host'],
  ['directories cannot be linked', '/dev is outside what the case sees'],
  ['extending with O_APPEND writes at the end', 'Linux leaves the file offset alone on pwrite with O_APPEND'],
]);

const all: [string, Case[]][] = [['access', access], ['attrs', attrs], ['dirs', dirs], ['fixture', fixture], ['io', io], ['links', links],
  ['lookup', lookup], ['names', names], ['readdir', readdir], ['rename', rename], ['space', space], ['xattr', xattr]];

for (const [group, cases] of all) {
  for (const c of cases) {
    const title = `${group}: ${c.name} [tmpfs via FUSE]`;
    const missing = missingRequirements(profile, c.opts?.requires ?? []);
    if (c.opts?.persistent) missing.push('persistence (no device)');
    const different = [...DIFFERENT].find(([k]) => c.name.includes(k));
    if (different) missing.push(`through FUSE: ${different[1]}`);
    if (missing.length > 0) {
      test(title, { skip: `not applicable: ${missing.join(', ')}` }, () => undefined);
      continue;
    }
    test(title, async (t) => {
      const na = await runCase(c);
      if (na !== null) t.skip(`not applicable through FUSE: ${na}`);
    });
  }
}
