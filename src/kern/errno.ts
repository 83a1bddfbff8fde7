/**
 * POSIX errno names and numbers. Numbers are Linux's (the host every hosting
 * mode runs on, and what FUSE and Node's fs speak); EFTYPE, which Linux lacks,
 * takes NetBSD's meaning ("inappropriate file type or format": a corrupt or
 * unrecognised file system at mount time) with a number outside Linux's range.
 */

export const ERRNO = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  ESRCH: [3, 'no such process'],
  EINTR: [4, 'interrupted system call'],
  EIO: [5, 'i/o error'],
  ENXIO: [6, 'no such device or address'],
  E2BIG: [7, 'argument list too long'],
  EBADF: [9, 'bad file descriptor'],
  EAGAIN: [11, 'resource temporarily unavailable'],
  ENOMEM: [12, 'not enough memory'],
  EACCES: [13, 'permission denied'],
  EFAULT: [14, 'bad address'],
  ENOTBLK: [15, 'block device required'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  EXDEV: [18, 'cross-device link not permitted'],
  ENODEV: [19, 'no such device'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  ENFILE: [23, 'file table overflow'],
  EMFILE: [24, 'too many open files'],
  ENOTTY: [25, 'inappropriate ioctl for device'],
  ETXTBSY: [26, 'text file is busy'],
  EFBIG: [27, 'file too large'],
  ENOSPC: [28, 'no space left on device'],
  ESPIPE: [29, 'invalid seek'],
  EROFS: [30, 'read-only file system'],
  EMLINK: [31, 'too many links'],
  EPIPE: [32, 'broken pipe'],
  ERANGE: [34, 'result too large'],
  EDEADLK: [35, 'resource deadlock would occur'],
  ENAMETOOLONG: [36, 'name too long'],
  ENOLCK: [37, 'no locks available'],
  ENOSYS: [38, 'function not implemented'],
  ENOTEMPTY: [39, 'directory not empty'],
  ELOOP: [40, 'too many symbolic links encountered'],
  ENODATA: [61, 'no data available'],
  ETIME: [62, 'timer expired'],
  EPROTO: [71, 'protocol error'],
  EOVERFLOW: [75, 'value too large for defined data type'],
  EBADMSG: [74, 'bad message'],
  EILSEQ: [84, 'illegal byte sequence'],
  ENOTSOCK: [88, 'socket operation on non-socket'],
  EOPNOTSUPP: [95, 'operation not supported'],
  ECONNRESET: [104, 'connection reset by peer'],
  ENOTCONN: [107, 'socket is not connected'],
  ETIMEDOUT: [110, 'connection timed out'],
  ECONNREFUSED: [111, 'connection refused'],
  ESTALE: [116, 'stale file handle'],
  EUCLEAN: [117, 'structure needs cleaning'],
  EDQUOT: [122, 'disk quota exceeded'],
  ECANCELED: [125, 'operation canceled'],
  EFTYPE: [1079, 'inappropriate file type or format'],
} as const satisfies Record<string, readonly [number, string]>;

export type Errno = keyof typeof ERRNO;

const byNumber = new Map<number, Errno>();
for (const [name, [num]] of Object.entries(ERRNO)) byNumber.set(num, name as Errno);

/** The errno number (positive) for a name. */
export function errnoNumber(code: Errno): number {
  return ERRNO[code][0];
}

/** The errno name for a number (positive or negative, as Node reports them), or undefined. */
export function errnoName(num: number): Errno | undefined {
  return byNumber.get(Math.abs(num));
}

export function isErrno(code: unknown): code is Errno {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERRNO, code);
}

/** strerror(3): the human sentence for an errno, capitalised as the C library does. */
export function strerror(code: Errno): string {
  const s = ERRNO[code][1];
  return s.charAt(0).toUpperCase() + s.slice(1);
}
