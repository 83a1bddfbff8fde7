// Fault campaigns: the shipped drivers keep every invariant under injected I/O faults, a campaign is
// reproducible from its seed, and planted bugs (a device scribbling elsewhere when a write fails, a driver
// crashing on a failed read, one returning zeros for it) are reported as violations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceWrapper, type BlockDevice } from '../../src/dev/blockdev.js';
import type { FaultDevice } from '../../src/dev/fault.js';
import { allProfiles } from '../../src/fs/profiles.js';
import { faultCampaign, faultSummary, type FaultReport } from '../../src/testing/faults.js';
import { missingRequirements } from '../../src/testing/fsapply.js';
import type { FsTestProfile } from '../../src/testing/profile.js';
import { cases as dirCases } from '../vfs/suite/dirs.js';
import { cases as ioCases } from '../vfs/suite/io.js';
import { cases as renameCases } from '../vfs/suite/rename.js';

const profile = (name: string): FsTestProfile => allProfiles.find((p) => p.name === name)!;

function noViolations(r: FaultReport): void {
  assert.deepEqual(r.violations, [], faultSummary(r));
  assert.ok(r.faults > 0, `no fault was injected: ${faultSummary(r)}`);
  assert.ok(r.failed > 0, 'no call failed');
}

test('toyfs: a campaign with and without torn writes finds no violation', async () => {
  noViolations(await faultCampaign({ profile: profile('toyfs'), seed: 1, rounds: 3, fraction: 0.1 }));
  noViolations(await faultCampaign({ profile: profile('toyfs'), seed: 2, rounds: 3, fraction: 0.3, tear: true }));
});

for (const name of ['ext4', 'fat16']) {
  test(`${name}: a campaign with torn writes finds no violation`, async () => {
    noViolations(await faultCampaign({ profile: profile(name), seed: 1, rounds: 1, fraction: 0.2, tear: true }));
  });
}

test('the same seed gives the same report; another seed another', async () => {
  const run = (seed: number) => faultCampaign({ profile: profile('toyfs'), seed, rounds: 2, fraction: 0.2, tear: true });
  const a = await run(5);
  const b = await run(5);
  assert.deepEqual(b, a);
  assert.equal(faultSummary(b), faultSummary(a));
  const c = await run(6);
  assert.notDeepEqual(c.perRound.map((r) => [r.faults, r.calls, r.errnos]), a.perRound.map((r) => [r.faults, r.calls, r.errnos]));
});

/** A planted device bug: when a write fails, the sector it was writing lands where the last successful read was. */
class MisdirectedWrite extends DeviceWrapper {
  private lastRead = -1;
  constructor(private readonly fault: FaultDevice) {
    super(fault);
  }
  override async read(buf: Uint8Array, offset: number): Promise<void> {
    await this.dev.read(buf, offset);
    this.lastRead = offset;
  }
  override async write(buf: Uint8Array, offset: number): Promise<void> {
    try {
      await this.dev.write(buf, offset);
    } catch (e) {
      if (this.lastRead >= 0) {
        this.fault.enabled = false;
        try {
          await this.dev.write(buf.subarray(0, 512), this.lastRead);
        } finally {
          this.fault.enabled = true;
        }
      }
      throw e;
    }
  }
}

/** A planted driver bug: a failed read is not handled, and the driver trips over what it did not get. */
class CrashOnFailedRead extends DeviceWrapper {
  override async read(buf: Uint8Array, offset: number): Promise<void> {
    try {
      await this.dev.read(buf, offset);
    } catch {
      throw new TypeError("Cannot read properties of undefined (reading 'size')");
    }
  }
}

/** A planted driver bug: a failed read is ignored, and the buffer's zeros are used as if read. */
class ZerosOnFailedRead extends DeviceWrapper {
  override async read(buf: Uint8Array, offset: number): Promise<void> {
    try {
      await this.dev.read(buf, offset);
    } catch {
      buf.fill(0);
    }
  }
}

const planted: { name: string; wrap: (d: FaultDevice) => BlockDevice; kinds: string[] }[] = [
  { name: 'a device that scribbles on another block when a write fails', wrap: (d) => new MisdirectedWrite(d), kinds: ['reference-damaged', 'durable-lost', 'remount'] },
  { name: 'a driver that throws a TypeError on a failed read', wrap: (d) => new CrashOnFailedRead(d), kinds: ['panic'] },
  { name: 'a driver that uses zeros for a failed read', wrap: (d) => new ZerosOnFailedRead(d), kinds: ['wrong-data', 'reference-damaged', 'durable-lost'] },
];

for (const bug of planted) {
  test(`a planted bug is reported: ${bug.name}`, async () => {
    const r = await faultCampaign({ profile: profile('toyfs'), seed: 1, rounds: 3, fraction: 0.1, wrapDevice: bug.wrap });
    assert.ok(r.violations.length > 0, `not caught: ${faultSummary(r)}`);
    const kinds = new Set(r.violations.map((v) => v.kind));
    assert.ok(bug.kinds.some((k) => kinds.has(k as never)), `caught as ${[...kinds].join(', ')}`);
    assert.match(faultSummary(r), /^3 rounds, \d+ faults injected, [1-9]\d* violations, \d+ inconsistent after remount$/);
  });
}

test('the cross-file-system suite bodies run under faults: no violation, their own failed assertions are not counted', async () => {
  const p = profile('toyfs');
  const bodies = [...ioCases, ...renameCases, ...dirCases]
    .filter((c) => missingRequirements(p, c.opts?.requires ?? []).length === 0)
    .map((c) => ({ name: c.name, body: c.body }));
  assert.ok(bodies.length > 40);
  const r = await faultCampaign({ profile: p, seed: 1, rounds: 1, fraction: 0.2, tear: true, bodies });
  noViolations(r);
  assert.ok(r.calls > 500, `${r.calls} calls`);
});
