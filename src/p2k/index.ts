/**
 * p2k: serving a file system of a (sandboxed) kernel through FUSE. `rumpMount`/`rumpUmount` are what
 * `rump mount`/`rump umount` call; `parseRumpOptions` reads their `-o` string; the raw protocol layer and the
 * bridge are exported for embedding (serving any SyscallApi at a host mount point).
 */

export { rumpMount, rumpUmount, type RumpMountOptions } from './mount.js';
export { parseRumpOptions, type ParsedRumpOptions } from './options.js';
export { Bridge, type BridgeOptions } from './bridge.js';
export { FuseSession, type RawFileSystem, type MountSpec } from './fuse/session.js';
