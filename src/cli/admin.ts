/**
 * The `rump` commands that make or serve images rather than look inside them:
 * mkfs (newfs in-process on a file we create, then filled through the kernel
 * like mke2fs -d / makefs), fsck (the FFS checker), server and halt.
 */

import { open as hostOpen, stat as hostStat } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { Kernel } from '../kern/kernel.js';
import { HostDevice, SubDevice, type BlockDevice } from '../dev/blockdev.js';
import { readPartitions } from '../dev/disklabel.js';
import { NodeHypercalls } from '../rumpuser/node.js';
import { parseOptions, type FileSystemType } from '../vfs/types.js';
import { connect, loadComponents, mountDisk, serve } from '../ukfs/index.js';
import { CliError, parseMemlimit, parseSize, parseTimeout, humanError, type Context } from './context.js';
import { copyTree, HostFs, VolumeFs } from './copy.js';
import { Progress } from './progress.js';

export interface MkfsOpts { options?: string; size?: string; from?: string; label?: string }

async function component(name: string): Promise<FileSystemType> {
  const all = await loadComponents();
  const c = all.find((x) => x.name === name || (x.aliases ?? []).includes(name));
  if (!c) throw new CliError(`unknown file-system type '${name}' (this build has: ${all.filter((x) => x.newfs).map((x) => x.name).join(', ')})`);
  if (!c.newfs) throw new CliError(`${c.name} cannot make new file systems`);
  return c;
}

export async function cmdMkfs(ctx: Context, image: string, o: MkfsOpts): Promise<void> {
  const type = ctx.opts.type;
  if (!type) throw new CliError('-t TYPE is required');
  if (type === 'cd9660' || type === 'iso9660') {
    // An ISO is made from a tree, not empty and then filled.
    if (o.from === undefined) throw new CliError('-t cd9660 needs --from DIR');
    const { writeIso } = await import('./isotree.js');
    await writeIso(o.from, image).catch((e: unknown) => {
      throw new CliError(`${image}: cannot make cd9660: ${humanError(e)}`);
    });
    return;
  }
  const comp = await component(type);
  const want = o.size !== undefined ? parseSize(o.size) : undefined;
  let exists = true;
  const cur = await hostStat(image).then((s) => s.size, () => ((exists = false), 0));
  if (!exists && want === undefined) throw new CliError(`${image} does not exist: give --size to create it`);
  if (want !== undefined && want < 64 * 1024) throw new CliError(`--size ${o.size} is too small`);
  // Create or extend the file (sparse); a larger existing file keeps its size, the file system takes `want`.
  if (want !== undefined && cur < want) {
    const fh = await hostOpen(image, exists ? 'r+' : 'w', 0o644);
    try {
      await fh.truncate(want);
    } finally {
      await fh.close();
    }
  }
  const k = await Kernel.boot({ components: [comp], host: new NodeHypercalls() });
  let dev: BlockDevice | undefined;
  try {
    dev = await HostDevice.open(await k.host.open(image, { readonly: false }), image);
    const target = want !== undefined && want < dev.size ? new SubDevice(dev, 0, want - (want % 512), image) : dev;
    const options = parseOptions(o.options);
    // `-t ext4` names the variant as well as the component (ext2fs's newfs takes it as type=).
    if (comp.name === 'ext2fs' && /^ext[234]$/.test(type) && !options.has('type')) options.set('type', type);
    await comp.newfs!(target, { options, ...(o.label !== undefined ? { label: o.label } : {}) }, k.services);
    await target.flush();
  } catch (e) {
    throw new CliError(`${image}: cannot make ${comp.name}: ${humanError(e)}`);
  } finally {
    await dev?.close().catch(() => undefined);
    await k.halt().catch(() => undefined);
  }
  if (o.from === undefined) return;
  const from = o.from;
  if (!(await hostStat(from).then((s) => s.isDirectory(), () => false))) throw new CliError(`--from ${from}: not a directory`);
  // The image holds only what newfs has just written and what comes from the user's own tree: nothing
  // hostile to keep in a sandbox. So the fill runs the kernel in this process (several times faster for a
  // tree of many small files than a round trip to a server per call), unless an isolation was asked for.
  const vol = await ctx.volume(image, true, ctx.isolationAsked ? ctx.isolation : 'trusted');
  const progress = new Progress(ctx.io.stderr);
  if (progress.enabled) {
    const { measure } = await import('./copy.js');
    progress.start(await measure(new HostFs(), from, true));
  }
  await copyTree(new HostFs(), from, new VolumeFs(vol, `${image}:`), '/', {
    recursive: true,
    preserve: true,
    hardlinks: true,
    onBytes: (n) => progress.add(n),
    onError: (p, e) => ctx.report(p, e),
  }, true);
  progress.stop();
  await vol.sync();
}

/** `rump fsck -t ffs -n IMAGE`: the FFS checker over the image (or partition -p N), read-only. */
export async function cmdFsck(ctx: Context, image: string, o: { n?: boolean }): Promise<void> {
  if (!o.n) throw new CliError('only checking is supported: use -n');
  const type = ctx.opts.type ?? 'ffs';
  if (type !== 'ffs') throw new CliError(`no checker for '${type}' (use e2fsck or fsck.fat for those)`);
  const spec = '../fs/ffs/fsck.js';
  const mod = (await import(spec).catch(() => null)) as { fsckFfs?: (bytes: Uint8Array) => Promise<string[]> } | null;
  if (!mod?.fsckFfs) throw new CliError('this build has no FFS checker');
  const host = new NodeHypercalls();
  const dev = await HostDevice.open(await host.open(image, { readonly: true }), image);
  let bytes: Uint8Array;
  try {
    let start = 0;
    let size = dev.size;
    if (ctx.opts.partition !== undefined) {
      const p = (await readPartitions(dev)).find((x) => x.index === Number(ctx.opts.partition));
      if (!p) throw new CliError(`${image}: no partition ${ctx.opts.partition}`);
      start = p.start;
      size = Math.min(p.size, dev.size - p.start);
    }
    // The checker works on the image in memory: as large as one array can be (4 GiB on 64-bit Node).
    if (size > bufferConstants.MAX_LENGTH) throw new CliError(`${image}: larger than the checker's ${Math.floor(bufferConstants.MAX_LENGTH / 1024 ** 2)} MiB limit`);
    try {
      bytes = new Uint8Array(size);
    } catch {
      throw new CliError(`${image}: not enough memory to check ${size} bytes`);
    }
    // In slices: one host read stops at 2 GiB.
    const SLICE = 64 * 1024 * 1024;
    for (let off = 0; off < size; off += SLICE) await dev.read(bytes.subarray(off, Math.min(size, off + SLICE)), start + off);
  } finally {
    await dev.close();
  }
  const problems = await mod.fsckFfs(bytes);
  for (const p of problems) ctx.io.stdout.write(`${p}\n`);
  if (problems.length > 0) {
    ctx.failures++;
    ctx.io.stderr.write(`rump: fsck: ${image}: ${problems.length} problem(s)\n`);
  } else ctx.io.stdout.write(`${image}: clean\n`);
}

/** `--disk KEY=PATH[,ro]`. */
export function parseDisk(spec: string): { key: string; path: string; readonly: boolean } {
  const m = /^([A-Za-z0-9_-]+)=(.+?)(,ro|,rw)?$/.exec(spec);
  if (!m) throw new CliError(`bad --disk '${spec}' (KEY=PATH or KEY=PATH,ro)`);
  return { key: m[1]!, path: m[2]!, readonly: m[3] === ',ro' };
}

export async function cmdServer(ctx: Context, o: { disk?: string[]; listen?: string }, stop: Promise<void>): Promise<void> {
  if (!o.listen) throw new CliError('--listen unix://PATH or tcp://127.0.0.1:PORT is required');
  const disks = (o.disk ?? []).map(parseDisk);
  const server = await serve({
    listen: o.listen,
    images: disks.map((d) => ({ node: `/dev/${d.key}`, path: d.path, readonly: d.readonly })),
    isolation: ctx.isolation,
    ...(ctx.opts.memlimit ? { memlimitMiB: parseMemlimit(ctx.opts.memlimit) } : {}),
    ...(ctx.opts.timeout ? { timeoutMs: parseTimeout(ctx.opts.timeout) } : {}),
    ...(ctx.opts.component?.length ? { extraComponentModules: ctx.opts.component } : {}),
  });
  const k = server.kernel;
  let ended!: () => void;
  const died = new Promise<void>((r) => (ended = r));
  {
    k.onDeath((reason) => {
      ctx.io.stderr.write(`rump: server: kernel stopped: ${reason}\n`);
      ended();
    });
    const proc = await k.newProc();
    for (const d of disks) {
      const mp = `/mnt/${d.key}`;
      try {
        await proc.mkdir(mp, 0o755);
        const r = await mountDisk(k, proc, { node: `/dev/${d.key}`, path: d.path, mountPoint: mp, readonly: d.readonly });
        ctx.io.stderr.write(`rump: server: ${d.path} (${r.probe?.variant ?? r.type}) mounted on ${mp}${d.readonly ? ' read-only' : ''}\n`);
      } catch (e) {
        ctx.io.stderr.write(`rump: server: ${d.path}: not mounted: ${humanError(e)}; the device is /dev/${d.key}\n`);
      }
    }
  }
  ctx.io.stderr.write(`rump: server: listening on ${o.listen}\n`);
  await Promise.race([stop, died]);
  await server.close().catch(() => undefined);
}

export async function cmdHalt(ctx: Context): Promise<void> {
  const url = ctx.io.env['RUMP_SERVER'];
  if (!url) throw new CliError('RUMP_SERVER is not set');
  const k = await connect(url).catch((e: unknown) => {
    throw new CliError(`${url}: cannot connect: ${humanError(e)}`);
  });
  await k.halt();
}
