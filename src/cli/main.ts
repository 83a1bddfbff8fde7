#!/usr/bin/env node
/**
 * The `rump` command: files inside disk images, addressed as IMAGE:PATH, read
 * by kernel drivers in a sandboxed server process unless told otherwise
 * (fs-utils, e2tools and guestfish in one tool). Argument parsing is
 * commander's; each command lives in commands.ts, admin.ts or shell.ts.
 *
 * Flags every image command takes: -t TYPE, -p N (--partition N for cp and
 * mkdir, whose -p is cp's and mkdir's own), --trusted, --isolation,
 * --memlimit MiB, --timeout SECONDS.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { CliError, Context, type GlobalOpts, type Io } from './context.js';

/**
 * The commands' modules load when a command runs, not at start: a cold `rump cat` then loads
 * neither the tar, progress-bar, shell nor developer-tool code (fuzzing, crash simulation, fault campaigns, FUSE).
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): M[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never {
  const f = async (...a: unknown[]) => ((await load())[name] as (...x: unknown[]) => unknown)(...a);
  return f as never;
}
const commands = () => import('./commands.js');
const admin = () => import('./admin.js');
const devtools = () => import('./devtools.js');
const cmdCat = lazy(commands, 'cmdCat');
const cmdChmod = lazy(commands, 'cmdChmod');
const cmdChown = lazy(commands, 'cmdChown');
const cmdCp = lazy(commands, 'cmdCp');
const cmdDf = lazy(commands, 'cmdDf');
const cmdFind = lazy(commands, 'cmdFind');
const cmdInfo = lazy(commands, 'cmdInfo');
const cmdLn = lazy(commands, 'cmdLn');
const cmdLs = lazy(commands, 'cmdLs');
const cmdMkdir = lazy(commands, 'cmdMkdir');
const cmdMv = lazy(commands, 'cmdMv');
const cmdRm = lazy(commands, 'cmdRm');
const cmdStat = lazy(commands, 'cmdStat');
const cmdTar = lazy(commands, 'cmdTar');
const cmdTouch = lazy(commands, 'cmdTouch');
const cmdFsck = lazy(admin, 'cmdFsck');
const cmdHalt = lazy(admin, 'cmdHalt');
const cmdMkfs = lazy(admin, 'cmdMkfs');
const cmdServer = lazy(admin, 'cmdServer');
const cmdShell = lazy(() => import('./shell.js'), 'cmdShell');
const cmdCrashsim = lazy(devtools, 'cmdCrashsim');
const cmdFaults = lazy(devtools, 'cmdFaults');
const cmdFuzz = lazy(devtools, 'cmdFuzz');
const cmdMount = lazy(devtools, 'cmdMount');
const cmdTest = lazy(devtools, 'cmdTest');
const cmdUmount = lazy(devtools, 'cmdUmount');

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Adds the flags every image command takes; `shortP` is false where -p means something else. */
function common(cmd: Command, shortP = true): Command {
  cmd
    .addOption(new Option('-t, --type <type>', 'file-system type (probed when absent)'))
    .addOption(new Option(shortP ? '-p, --partition <n>' : '--partition <n>', 'partition number (1-4 primary, 5+ logical, GPT slot)'))
    .addOption(new Option('--trusted', 'run the kernel in this process (for images you trust)'))
    .addOption(new Option('--isolation <mode>', 'process (default), worker or trusted').choices(['process', 'worker', 'trusted']))
    .addOption(new Option('--memlimit <MiB>', 'heap limit of the kernel server (default 512)'))
    .addOption(new Option('--timeout <seconds>', 'kill the server when one request makes no progress for this long (default 30)'))
    .addOption(new Option('--component <module>', 'load an extra component module into the kernel (tests)').argParser(collect).hideHelp());
  return cmd;
}

/** find(1)'s single-dash long options, as commander wants them. */
function findArgs(args: string[]): string[] {
  const map = new Map([['-name', '--name'], ['-iname', '--iname'], ['-type', '--ftype'], ['-maxdepth', '--maxdepth'], ['-print0', '--print0']]);
  return args.filter((a) => a !== '-print').map((a) => map.get(a) ?? a);
}

export function defaultIo(): Io {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Runs `rump ARGS...`; resolves to the exit status. */
export async function main(argv: string[], io: Io = defaultIo(), opts: { stop?: Promise<void> } = {}): Promise<number> {
  let status = 0;
  const run = (name: string, f: (ctx: Context, ...a: never[]) => Promise<void>) =>
    async (...a: unknown[]) => {
      const cmd = a[a.length - 1] as Command;
      const ctx = new Context(name, cmd.opts() as GlobalOpts, io);
      try {
        await (f as (ctx: Context, ...a: unknown[]) => Promise<void>)(ctx, ...a.slice(0, -1));
      } catch (e) {
        await ctx.report('', e);
      } finally {
        await ctx.close();
      }
      status = ctx.failures > 0 ? 1 : 0;
    };

  const program = new Command('rump')
    .description('Files inside disk images, read by kernel drivers in a sandbox. IMAGE:PATH names a file in an image.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showSuggestionAfterError();

  common(program.command('info').argument('<image...>').option('--json', 'machine-readable output')
    .description('partitions, file-system types, labels, UUIDs, sizes, usage'))
    .action(run('info', (ctx, images: string[], o: { json?: boolean }) => cmdInfo(ctx, images, o)));

  common(program.command('ls').argument('<target...>', 'IMAGE[:PATH]')
    .option('-l', 'long listing', false).option('-a', 'include dot files', false).option('-R', 'recursive', false)
    .option('-d', 'list directories themselves', false).option('--json', 'machine-readable output')
    .description('list directory contents'))
    .action(run('ls', (ctx, t: string[], o: { l: boolean; a: boolean; R: boolean; d: boolean; json?: boolean }) =>
      cmdLs(ctx, t, { long: o.l, all: o.a, recursive: o.R, directory: o.d, ...(o.json ? { json: true } : {}) })));

  common(program.command('cat').argument('<target...>', 'IMAGE:PATH').description('print files'))
    .action(run('cat', (ctx, t: string[]) => cmdCat(ctx, t)));

  common(program.command('stat').argument('<target...>', 'IMAGE:PATH').option('-L', 'follow symbolic links', false)
    .option('--json', 'machine-readable output').description('file status'))
    .action(run('stat', (ctx, t: string[], o: { L: boolean; json?: boolean }) => cmdStat(ctx, t, { dereference: o.L, ...(o.json ? { json: true } : {}) })));

  common(program.command('df').argument('<target...>', 'IMAGE').option('-h', 'human-readable sizes', false)
    .option('--json', 'machine-readable output').description('file-system usage'))
    .action(run('df', (ctx, t: string[], o: { h: boolean; json?: boolean }) => cmdDf(ctx, t, { human: o.h, ...(o.json ? { json: true } : {}) })));

  common(program.command('find').argument('<target...>', 'IMAGE[:PATH]')
    .option('--name <glob>').option('--iname <glob>').option('--ftype <t>').option('--maxdepth <n>').option('--print0')
    .description('walk a tree: find IMAGE[:PATH] [-name GLOB] [-iname GLOB] [-type f|d|l|b|c|p|s] [-maxdepth N]'))
    .action(run('find', (ctx, t: string[], o: { name?: string; iname?: string; ftype?: string; maxdepth?: string; print0?: boolean }) =>
      cmdFind(ctx, t, { ...o, ...(o.ftype !== undefined ? { type: o.ftype } : {}) })));

  common(program.command('cp').argument('<src-and-dst...>', 'SRC... DST (IMAGE:PATH, host path or -)')
    .option('-r, --recursive', 'copy directories', false).addOption(new Option('-R').hideHelp()).option('-p, --preserve', 'keep modes, owners, times, hard links', false)
    .option('-a, --archive', 'same as -rp', false).description('copy files into, out of and between images'), false)
    .action(run('cp', (ctx, a: string[], o: { recursive: boolean; R?: boolean; preserve: boolean; archive: boolean }) =>
      cmdCp(ctx, a, { ...o, recursive: o.recursive || !!o.R })));

  common(program.command('mkdir').argument('<target...>', 'IMAGE:PATH').option('-p, --parents', 'make parents, no error if existing', false)
    .option('-m, --mode <mode>', 'octal mode').description('make directories'), false)
    .action(run('mkdir', (ctx, t: string[], o: { parents: boolean; mode?: string }) => cmdMkdir(ctx, t, o)));

  common(program.command('rm').argument('<target...>', 'IMAGE:PATH').option('-r, --recursive', 'remove trees', false).addOption(new Option('-R').hideHelp())
    .option('-f, --force', 'ignore missing files', false).option('-d, --dir', 'remove empty directories', false).description('remove files'))
    .action(run('rm', (ctx, t: string[], o: { recursive: boolean; R?: boolean; force: boolean; dir: boolean }) =>
      cmdRm(ctx, t, { ...o, recursive: o.recursive || !!o.R })));

  common(program.command('mv').argument('<src-and-dst...>', 'IMAGE:SRC... IMAGE:DST').description('rename within an image'))
    .action(run('mv', (ctx, a: string[]) => cmdMv(ctx, a)));

  common(program.command('ln').argument('<target>').argument('<link>', 'IMAGE:PATH').option('-s, --symbolic', 'symbolic link', false)
    .option('-f, --force', 'replace an existing link', false).description('make links'))
    .action(run('ln', (ctx, target: string, link: string, o: { symbolic: boolean; force: boolean }) => cmdLn(ctx, [target, link], o)));

  common(program.command('chmod').argument('<mode>').argument('<target...>', 'IMAGE:PATH').option('-R', 'recursive', false)
    .description('change modes (octal or u+x,go-w)'))
    .action(run('chmod', (ctx, mode: string, t: string[], o: { R: boolean }) => cmdChmod(ctx, mode, t, { recursive: o.R })));

  common(program.command('chown').argument('<owner>', 'USER[:GROUP] (names from the image\'s /etc/passwd and /etc/group, or ids)').argument('<target...>', 'IMAGE:PATH').option('-R', 'recursive', false)
    .option('-h', 'change symbolic links themselves', false).description('change owners'))
    .action(run('chown', (ctx, owner: string, t: string[], o: { R: boolean; h: boolean }) => cmdChown(ctx, owner, t, { recursive: o.R, noDereference: o.h })));

  common(program.command('touch').argument('<target...>', 'IMAGE:PATH').option('-c, --no-create', 'do not create files')
    .option('-d, --date <date>', 'ISO date or @SECONDS instead of now').option('-a', 'access time only', false).option('-m', 'modification time only', false)
    .description('create files, set times'))
    .action(run('touch', (ctx, t: string[], o: { create: boolean; date?: string; a: boolean; m: boolean }) =>
      cmdTouch(ctx, t, { noCreate: !o.create, access: o.a, modify: o.m, ...(o.date !== undefined ? { date: o.date } : {}) })));

  common(program.command('tar').argument('<target...>', 'IMAGE[:PATH]').description('the tree as a tar stream on stdout'))
    .action(run('tar', (ctx, t: string[]) => cmdTar(ctx, t)));

  common(program.command('mkfs').argument('<image>').option('-o, --options <options>', 'newfs options')
    .option('-L, --label <label>', 'volume label').option('--size <size>', 'create or extend the image to this size (64m, 1g)')
    .option('--from <dir>', 'fill from a host directory (modes, owners, times, links kept)').description('make a file system'))
    .action(run('mkfs', (ctx, image: string, o: { options?: string; size?: string; from?: string; label?: string }) => cmdMkfs(ctx, image, o)));

  common(program.command('fsck').argument('<image>').option('-n', 'check only, change nothing', false).description('check an FFS image'))
    .action(run('fsck', (ctx, image: string, o: { n: boolean }) => cmdFsck(ctx, image, o)));

  common(program.command('shell').argument('<image>').option('-w, --write', 'open the image read-write', false)
    .option('-c, --command <commands>', 'run these commands (separated by ; or newlines) and exit').description('interactive shell inside an image'))
    .action(run('shell', (ctx, image: string, o: { write: boolean; command?: string }) => cmdShell(ctx, image, o)));

  common(program.command('server').option('--disk <KEY=PATH[,ro]>', 'an image to serve as /dev/KEY, mounted on /mnt/KEY', collect)
    .option('--listen <url>', 'unix://PATH or tcp://127.0.0.1:PORT').description('serve a kernel to RUMP_SERVER clients'))
    .action(run('server', (ctx, o: { disk?: string[]; listen?: string }) => cmdServer(ctx, o, opts.stop ?? untilSignal())));

  program.command('halt').description('halt the kernel RUMP_SERVER points at')
    .action(run('halt', (ctx) => cmdHalt(ctx)));

  program.command('mount').argument('<image>').argument('<mountpoint>')
    .option('-t, --type <type>', 'file-system type (probed when absent)').option('-p, --partition <n>', 'partition number')
    .option('-o, --options <options>', 'ro|rw,uid=,gid=,allow_other,default_permissions,... and driver options')
    .option('-f, --foreground', 'stay in the foreground', false)
    .description('mount an image on the host through FUSE, the driver in its sandbox (read-only unless -o rw)')
    .action(run('mount', (_ctx, image: string, mp: string, o: { type?: string; partition?: string; options?: string; foreground?: boolean }) => cmdMount(image, mp, o)));
  program.command('umount').argument('<mountpoint>').option('-l, --lazy', 'detach now, clean up later', false)
    .description('sync, unmount and stop the server of a rump mount')
    .action(run('umount', (_ctx, mp: string, o: { lazy?: boolean }) => cmdUmount(mp, o)));
  program.command('test').argument('[pattern...]', 'component names or parts of test file paths')
    .option('-w, --watch', 're-run on every change under src/ and test/', false)
    .option('--suite', 'with a component, also run the cross-file-system suite on it', false)
    .description('run tests of this checkout in one process (developers)')
    .action(async (patterns: string[], o: { watch?: boolean; suite?: boolean }) => {
      status = await cmdTest(patterns, o);
    });
  program.command('fuzz').requiredOption('-t, --type <type>', 'component or profile').option('--seed <n>', 'seed', '1')
    .option('--cases <n>', 'number of cases', '1000').option('--image <image>', 'fuzz this image instead of a generated one')
    .option('--corpus <dir>', 'where reproducers go', 'test/corpus')
    .option('--start <n>', 'first case number (to continue a campaign)', '0').option('--progress <n>', 'print a progress line every N cases', '0')
    .option('--jobs <n>', 'worker threads, each a contiguous slice of the cases', '1')
    .description('fuzz a component with mutated images; ends with "N cases, V violations"')
    .action(async (o: { type: string; seed?: string; cases?: string; image?: string; corpus?: string; start?: string; progress?: string; jobs?: string }) => {
      status = await cmdFuzz(io, o);
    });
  program.command('crashsim').requiredOption('-t, --type <type>', 'component or profile').option('--seed <n>', 'seed', '1')
    .option('--workload <name>', 'workload', 'default')
    .description('crash-simulate a workload; ends with "P prefixes checked, I inconsistent, L fsynced files lost"')
    .action(async (o: { type: string; seed?: string; workload?: string }) => {
      status = await cmdCrashsim(io, o);
    });
  program.command('faults').requiredOption('-t, --type <type>', 'component or profile').option('--seed <n>', 'seed', '1')
    .option('--rounds <n>', 'rounds, each on a fresh image', '20').option('--fraction <f>', 'fraction of I/Os failing', '0.05')
    .option('--tear', 'a failing write first writes a seeded prefix of its sectors', false)
    .option('--steps <n>', 'calls of the workload per round', '150')
    .description('run a workload under a fault-injecting device; ends with "R rounds, F faults injected, V violations, I inconsistent after remount"')
    .action(async (o: { type: string; seed?: string; rounds?: string; fraction?: string; tear?: boolean; steps?: string }) => {
      status = await cmdFaults(io, o);
    });

  const args = argv[0] === 'find' ? findArgs(argv) : argv;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    if (e instanceof CliError) {
      io.stderr.write(`rump: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  return status;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  // A closed pipe (rump cat ... | head) ends the command quietly, as in other tools.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      // Exit once our output is flushed rather than when the event loop drains: a kernel client's
      // idle timers must not hold a finished command open.
      process.exitCode = code;
      process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
    },
    (e: unknown) => {
      process.stderr.write(`rump: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
