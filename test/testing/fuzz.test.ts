// The fuzzer finds a driver that lets a plain exception escape, shrinks the case, and is reproducible from its seed;
// cases on one reused kernel are those of fresh kernels; campaigns split by --start or --jobs are the same campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { newfs, toyfs } from '../../src/fs/toyfs/index.js';
import { profiles as toyProfiles } from '../../src/fs/toyfs/profile.js';
import { applyMutations, Fuzzer, fuzzCampaign, fuzzSummary, makeMutations, runImage, type FuzzTarget } from '../../src/testing/fuzz.js';
import { fuzzCampaignJobs } from '../../src/testing/fuzz-jobs.js';
import { FUZZ_TREE, makeFuzzImage, metadataRegions } from '../../src/testing/fuzz-images.js';
import { fixturePattern } from '../../src/testing/fixture.js';
import { allComponents } from '../../src/fs/all.js';
import { crashSimulate, crashSummary } from '../../src/testing/crashsim.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../src/vfs/fcntl.js';
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

// The fragile toyfs of the test above, failing on a free-inode count above 200, for the tests below.
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

test('cases on the reused kernel find what fresh kernels find, and the device is pristine after each clean case', async () => {
  const image = await populated();
  const target: FuzzTarget = { component: fragile, image, writable: true, regions: [[24, 8], [0, 8192]] };
  const r = await fuzzCampaign(target, 3, 60);
  const fresh: number[] = [];
  for (let n = 0; n < 60; n++) if (await runImage(target, applyMutations(image, makeMutations(target, 3, n)))) fresh.push(n);
  assert.deepEqual(r.violations.map((v) => v.caseNo), fresh);
  assert.ok(fresh.length > 0);
  assert.ok(r.violations.every((v) => !v.violation.message.includes('reused kernel only')));

  // The write phase changes the device (mkdir, write, rename, unlink, sync); the next case must not see it.
  const f = new Fuzzer({ component: toyfs, image, writable: true });
  try {
    for (let n = 0; n < 5; n++) {
      assert.equal(await f.run(makeMutations(target, 9, n)), null);
      assert.ok(Buffer.from(f.deviceBytes()!).equals(Buffer.from(image)), `case ${n} left the device changed`);
    }
  } finally {
    await f.close();
  }
});

test('a campaign continued with start is the same campaign', async () => {
  const image = await populated();
  const target: FuzzTarget = { component: fragile, image, writable: false, regions: [[24, 8]] };
  const whole = await fuzzCampaign(target, 1, 40);
  const a = await fuzzCampaign(target, 1, 25);
  const b = await fuzzCampaign(target, 1, 15, { start: 25 });
  assert.equal(a.cases + b.cases, 40);
  assert.deepEqual([...a.violations, ...b.violations], whole.violations);
});

test('worker jobs run disjoint slices of the same cases', async () => {
  const image = await populated();
  const target: FuzzTarget = { component: toyfs, image, writable: true, regions: [[0, 8192]] };
  const one = await fuzzCampaign(target, 2, 30, { start: 10 });
  const two = await fuzzCampaignJobs({ component: 'toyfs', image, regions: [[0, 8192]], writable: true, seed: 2, start: 10, cases: 30 }, 2);
  assert.equal(fuzzSummary(two), fuzzSummary(one));
  assert.equal(two.cases, 30);
});

test('the campaign images: made by the real tools, intact (no violation unmutated), with metadata regions', async () => {
  for (const kind of ['ext4', 'fat16', 'ufs2', 'cd9660'] as const) {
    const image = await makeFuzzImage(kind);
    const regions = metadataRegions(image);
    assert.ok(regions.length > 0 && regions.every(([s, l]) => s % 512 === 0 && l > 0 && s + l <= image.length), kind);
    const component = allComponents.find((c) => c.name === { ext4: 'ext2fs', fat16: 'msdosfs', ufs2: 'ffs', cd9660: 'cd9660' }[kind])!;
    const target: FuzzTarget = { component, image, regions, writable: kind !== 'cd9660' };
    assert.equal(await runImage(target, image), null, kind);
    // The walk sees the whole tree: every file of FUZZ_TREE is readable with its contents.
    const k = await Kernel.boot({ components: [component] });
    await k.etfs.register('/dev/f', image.slice());
    const p = k.newProc();
    await p.mount(component.name, '/mnt', { source: '/dev/f', readonly: true });
    for (const e of FUZZ_TREE) {
      if (e.kind !== 'file') continue;
      const fd = await p.open(`/mnt/${e.path}`, O_RDONLY);
      const buf = new Uint8Array(e.size + 1);
      let got = 0;
      for (let n; (n = await p.pread(fd, buf.subarray(got), got)) > 0;) got += n;
      await p.close(fd);
      assert.deepEqual(buf.subarray(0, got), fixturePattern(e.size, e.seed), `${kind}: ${e.path}`);
    }
    await k.halt();
  }
});

test('a call that never finishes is a timeout, and the campaign goes on past it', async () => {
  // A statvfs that hangs, holding the mount's lock, on any changed superblock toyfs accepts: halting that
  // kernel (unmount takes the lock) would wait forever.
  const image = await populated();
  const hanging: FileSystemType = {
    ...toyfs,
    name: 'hangfs',
    async mount(dev, opts, k) {
      const buf = new Uint8Array(1024);
      await dev!.read(buf, 0);
      const fs = await toyfs.mount(dev, opts, k);
      if (Buffer.from(buf).equals(Buffer.from(image.subarray(0, 1024)))) return fs;
      const h = Object.create(fs) as typeof fs;
      h.statvfs = () => new Promise(() => undefined);
      return h;
    },
  };
  const r = await fuzzCampaign({ component: hanging, image, writable: true, regions: [[0, 1024]] }, 1, 4, { callTimeoutMs: 100 });
  assert.equal(r.cases, 4);
  assert.ok(r.violations.length > 0);
  for (const v of r.violations) assert.match(v.violation.message, /^statvfs did not finish within 100 ms/);
});
