/**
 * System-call constants, with Linux's values (what Node's fs.constants and
 * FUSE use on the hosts we run on).
 */

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

export const F_OK = 0;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

/** utimens: leave this time alone / set it to now. */
export const UTIME_OMIT = 'omit' as const;
export const UTIME_NOW = 'now' as const;

export const AT_SYMLINK_NOFOLLOW = 0x100;

/** rename2 flags (Linux renameat2). */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
