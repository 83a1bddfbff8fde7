// The fuzzer finds a driver that lets a plain exception escape, shrinks the case, and is reproducible from its seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { newfs, toyfs } from '../../src/fs/toyfs/index.js';
import { profiles as toyProfiles } from '../../src/fs/toyfs/profile.js';
import { fuzzCampaign, fuzzSummary, makeMutations, type FuzzTarget } from '../../src/testing/fuzz.js';
import { crashSimulate, crashSummary } from '../../src/testing/crashsim.js';
import { O_CREAT, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { FileSystemType } from '../../src/vfs/types.js';

async function populated(): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(256 * 1024);
  await newfs(dev);
  const k = await Kernel.boot({ components: [toyfs] });
  await k.etfs.register('/dev/t', dev);
  const p = k.newProc();
  await p.mount('toyfs', '/mnt', { source: '/dev/t' });
  for (let f = 0; f < 8; f++) {
    const fd = await p.open(`/mnt/f${f}`, O_CREAT | O_WRONLY);
    await p.write(fd, new Uint8Array(500 * f).fill(f));
    await p.close(fd);
  }
  await k.halt();
  return dev.bytes;
}

test('mutations are reproducible from the seed', async () => {
  const target: FuzzTarget = { component: toyfs, image: await populated(), writable: false, regions: [[0, 4096]] };
  assert.deepEqual(makeMutations(target, 7, 3), makeMutations(target, 7, 3));
  assert.notDeepEqual(makeMutations(target, 7, 3), makeMutations(target, 8, 3));
});

test('a driver that throws a TypeError on a corrupt field is caught, and the case shrinks to that field', async () => {
  // toyfs with a planted bug: a free-inode count above 200 makes statvfs-free mount code throw a plain TypeError.
  const fragile: FileSystemType = {
    ...toyfs,
    name: 'fragilefs',
    async mount(dev, opts, k) {
      const buf = new Uint8Array(1024);
      await dev!.read(buf, 0);
      if (buf[28]! > 200) (undefined as unknown as { x: number }).x = 1;
      return toyfs.mount(dev, opts, k);
    },
  };
  const image = await populated();
  const r = await fuzzCampaign({ component: fragile, image, writable: false, regions: [[24, 8]] }, 1, 60);
  assert.equal(fuzzSummary(r), `60 cases, ${r.violations.length} violations`);
  assert.ok(r.violations.length > 0, 'the planted bug was found');
  const v = r.violations[0]!;
  assert.equal(v.violation.kind, 'non-kernel-error');
  assert.equal(v.mutations.length, 1, 'shrunk to one mutation');
  assert.ok(v.mutations[0]!.offset <= 28 && v.mutations[0]!.offset + v.mutations[0]!.bytes.length > 28);
  // The real toyfs survives the same cases.
  const clean = await fuzzCampaign({ component: toyfs, image, writable: true, regions: [[0, 8192]] }, 1, 60);
  assert.equal(clean.violations.length, 0, JSON.stringify(clean.violations[0]));
});

test('crash simulation of a toyfs workload is reproducible and counts inconsistent prefixes', async () => {
  const opts = {
    profile: toyProfiles[0]!,
    size: 256 * 1024,
    seed: 5,
    workload: async ({ proc, fsynced }: { proc: import('../../src/vfs/proc.js').Proc; fsynced: (p: string, c: Uint8Array) => void }) => {
      await proc.mkdir('/mnt/d');
      const data = new Uint8Array(3000).fill(9);
      const fd = await proc.open('/mnt/d/f', O_CREAT | O_WRONLY);
      await proc.write(fd, data);
      await proc.fsync(fd);
      fsynced('/mnt/d/f', data);
      await proc.close(fd);
      await proc.rename('/mnt/d/f', '/mnt/g');
    },
  };
  const a = await crashSimulate(opts);
  const b = await crashSimulate(opts);
  assert.equal(crashSummary(a), crashSummary(b));
  assert.match(crashSummary(a), /^\d+ prefixes checked, \d+ inconsistent, \d+ fsynced files lost$/);
  assert.ok(a.prefixes > a.writes, 'every prefix plus reorderings');
  // The full log is the clean unmounted image; the empty prefix is the fresh one: both consistent.
  assert.equal(a.states.find((s) => s.label === 'prefix 0')!.consistent, true);
  assert.equal(a.states.find((s) => s.label === `prefix ${a.writes}`)!.consistent, true);
  // A non-journaled file system leaves some prefixes inconsistent, and the simulator says so.
  assert.ok(a.inconsistent > 0);
});
