/**
 * The root file system (NetBSD's rumpfs): a small in-memory tree that holds
 * mount points and the etfs device nodes under /dev. Directories, device
 * nodes, symlinks and small regular files; everything a rump kernel needs
 * before a real file system is mounted on it.
 */

import { KernelError } from '../kern/error.js';
import type {
  DirEntry, FileSystemType, FsMount, KernelServices, NewNode, SetAttr, StatVfs, Timespec, Vattr, VnodeImpl, VnodeKey,
} from './types.js';

class RNode implements VnodeImpl {
  readonly entries: Map<string, RNode> | null;
  data = new Uint8Array(0);
  target = '';
  nlink: number;
  parent: RNode;

  constructor(
    readonly fs: RootFs,
    readonly key: VnodeKey,
    public attr: Vattr,
    parent: RNode | null,
  ) {
    this.entries = attr.type === 'dir' ? new Map() : null;
    this.nlink = attr.type === 'dir' ? 2 : 1;
    this.parent = parent ?? this;
  }

  getattr(): Vattr {
    return { ...this.attr, nlink: this.nlink, size: this.attr.type === 'dir' ? (this.entries!.size + 2) * 32 : this.attr.type === 'lnk' ? this.target.length : this.data.length };
  }

  async setattr(a: SetAttr): Promise<void> {
    if (a.size !== undefined) {
      if (this.attr.type !== 'reg') throw new KernelError(this.attr.type === 'dir' ? 'EISDIR' : 'EINVAL');
      const d = new Uint8Array(a.size);
      d.set(this.data.subarray(0, Math.min(a.size, this.data.length)));
      this.data = d;
    }
    if (a.mode !== undefined) this.attr.mode = a.mode & 0o7777;
    if (a.uid !== undefined) this.attr.uid = a.uid;
    if (a.gid !== undefined) this.attr.gid = a.gid;
    if (a.atime) this.attr.atime = a.atime;
    if (a.mtime) this.attr.mtime = a.mtime;
    if (a.ctime) this.attr.ctime = a.ctime;
  }

  private dir(): Map<string, RNode> {
    if (!this.entries) throw new KernelError('ENOTDIR');
    return this.entries;
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    if (name === '..') return this.parent.key;
    return this.dir().get(name)?.key ?? null;
  }

  private add(name: string, node: NewNode): RNode {
    const n = this.fs.alloc(node, this);
    this.dir().set(name, n);
    if (node.type === 'dir') this.nlink++;
    this.attr.mtime = this.attr.ctime = node.time;
    return n;
  }

  async create(name: string, node: NewNode): Promise<VnodeKey> {
    return this.add(name, node).key;
  }
  async mkdir(name: string, node: NewNode): Promise<VnodeKey> {
    return this.add(name, { ...node, type: 'dir' }).key;
  }
  async symlink(name: string, target: string, node: NewNode): Promise<VnodeKey> {
    const n = this.add(name, { ...node, type: 'lnk' });
    n.target = target;
    return n.key;
  }
  async link(name: string, target: VnodeImpl, time: Timespec): Promise<void> {
    const t = target as RNode;
    this.dir().set(name, t);
    t.nlink++;
    t.attr.ctime = time;
    this.attr.mtime = this.attr.ctime = time;
  }
  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as RNode;
    this.dir().delete(name);
    n.nlink--;
    n.attr.ctime = time;
    this.attr.mtime = this.attr.ctime = time;
    if (n.nlink === 0) this.fs.nodes.delete(n.key);
  }
  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as RNode;
    if (n.entries!.size > 0) throw new KernelError('ENOTEMPTY');
    this.dir().delete(name);
    n.nlink = 0;
    this.nlink--;
    this.attr.mtime = this.attr.ctime = time;
    this.fs.nodes.delete(n.key);
  }
  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    const f = from as RNode;
    const td = toDir as RNode;
    if (to) {
      const t = to as RNode;
      if (t.entries) {
        if (t.entries.size > 0) throw new KernelError('ENOTEMPTY');
        t.nlink = 0;
        td.nlink--;
      } else t.nlink--;
      t.attr.ctime = time;
    }
    this.dir().delete(fromName);
    td.dir().set(toName, f);
    if (f.entries && td !== this) {
      this.nlink--;
      td.nlink++;
      f.parent = td;
    }
    f.attr.ctime = time;
    this.attr.mtime = this.attr.ctime = time;
    td.attr.mtime = td.attr.ctime = time;
  }
  async readlink(): Promise<string> {
    if (this.attr.type !== 'lnk') throw new KernelError('EINVAL');
    return this.target;
  }
  async read(buf: Uint8Array, offset: number): Promise<number> {
    if (offset >= this.data.length) return 0;
    const n = Math.min(buf.length, this.data.length - offset);
    buf.set(this.data.subarray(offset, offset + n));
    return n;
  }
  async write(buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    const end = offset + buf.length;
    if (end > 64 * 1024 * 1024) throw new KernelError('EFBIG');
    if (end > this.data.length) {
      const d = new Uint8Array(end);
      d.set(this.data);
      this.data = d;
    }
    this.data.set(buf, offset);
    this.attr.mtime = this.attr.ctime = time;
    return buf.length;
  }
  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    const all: DirEntry[] = [
      { name: '.', key: this.key, type: 'dir', next: 1 },
      { name: '..', key: this.parent.key, type: 'dir', next: 2 },
    ];
    let i = 2;
    for (const [name, n] of this.dir()) all.push({ name, key: n.key, type: n.attr.type, next: ++i });
    return all.slice(cookie, cookie + max);
  }
  async fsync(): Promise<void> {}
}

class RootFs implements FsMount {
  readonly nodes = new Map<VnodeKey, RNode>();
  private nextKey = 2;
  readonly rootKey: VnodeKey = 2;

  constructor(readonly k: KernelServices) {
    const t = k.now();
    const root = new RNode(this, this.nextKey++, { type: 'dir', mode: 0o755, nlink: 2, uid: 0, gid: 0, size: 0, blocks: 0, blksize: 4096, ino: 2, rdev: 0, atime: t, mtime: t, ctime: t }, null);
    this.nodes.set(root.key, root);
  }

  alloc(node: NewNode, parent: RNode): RNode {
    const key = this.nextKey++;
    const n = new RNode(this, key, {
      type: node.type, mode: node.mode & 0o7777, nlink: 1, uid: node.uid, gid: node.gid, size: 0, blocks: 0, blksize: 4096,
      ino: key, rdev: node.rdev ?? 0, atime: node.time, mtime: node.time, ctime: node.time,
    }, parent);
    this.nodes.set(key, n);
    return n;
  }

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    const n = this.nodes.get(key);
    if (!n) throw new KernelError('ESTALE');
    return n;
  }
  async statvfs(): Promise<StatVfs> {
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: this.nodes.size, ffree: 0, favail: 0, fsid: 0, namemax: 255 };
  }
  async sync(): Promise<void> {}
  async unmount(): Promise<void> {}
}

export const rootfs: FileSystemType = {
  name: 'rumpfs',
  needsDevice: false,
  async mount(_dev, _opts, k) {
    return new RootFs(k);
  },
};
