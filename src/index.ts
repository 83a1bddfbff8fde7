/**
 * anykernel: a rump kernel in TypeScript. Boot a kernel with file-system
 * components, register disk images as devices, mount, and use the POSIX
 * system calls of a process.
 */

export { Kernel, type BootOptions } from './kern/kernel.js';
export { KernelError, kerr, isKernelError } from './kern/error.js';
export { ERRNO, errnoName, errnoNumber, strerror, type Errno } from './kern/errno.js';
export { Mutex, RwLock, CondVar } from './kern/lock.js';
export { NodeHypercalls } from './rumpuser/node.js';
export { MemoryHypercalls } from './rumpuser/memory.js';
export type { Hypercalls, HostFile, Timespec } from './rumpuser/types.js';
export { MemoryDevice, HostDevice, SubDevice, ReadOnlyDevice, type BlockDevice } from './dev/blockdev.js';
export { FaultDevice, type FaultOptions } from './dev/fault.js';
export { BufCache, Buf } from './vfs/bio.js';
export type { Proc } from './vfs/proc.js';
export type { SyscallApi, Stat, Dirent, MountArgs, TimeArg } from './vfs/syscalls.js';
export * from './vfs/fcntl.js';
export * from './vfs/types.js';
export { allComponents } from './fs/all.js';
