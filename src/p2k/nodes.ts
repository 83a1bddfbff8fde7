/**
 * The bridge's node table: FUSE node ids ↔ files of the served file system. The system-call API we serve
 * from names files by path, so each node remembers the directory entries (parent node, name) it was found
 * under; its path is rebuilt by walking parents, so renaming a directory is one update. Nodes are keyed by
 * inode number too, so every name of a hard-linked file maps to one node id (one inode in the host kernel).
 *
 * Lifetime: a node lives while the host kernel holds lookups on it (nlookup, dropped by FORGET) or while
 * a live child names it as parent (childRefs). A node whose last name went away (unlink, rename over it)
 * is "detached": it leaves the inode index, so a new file reusing that inode number gets a fresh node id,
 * and it has no path (open files still work through their descriptors).
 */

/** Node ids are never reused, so the generation number is always 0. */
export interface Node {
  readonly id: number;
  ino: number;
  /** Type bits of st_mode (S_IFDIR...): a reused inode number with another type is another file. */
  fmt: number;
  /** Directory entries naming this node, first = the one used for its path. Directories have at most one. */
  links: { parent: Node; name: string }[];
  nlookup: number;
  childRefs: number;
  /** The file is known to have no security.capability attribute (the answer to give: ENODATA or EOPNOTSUPP). */
  noCaps?: 'ENODATA' | 'EOPNOTSUPP';
}

/** Depth cap for path reconstruction: deeper than any path the kernel could send (PATH_MAX is 4096). */
const MAX_DEPTH = 4096;

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byIno = new Map<number, Node>();
  private readonly byEntry = new Map<string, Node>();
  private nextId = 2;
  readonly root: Node;

  constructor(readonly rootPath: string, rootIno: number) {
    this.root = { id: 1, ino: rootIno, fmt: 0o040000, links: [], nlookup: 1, childRefs: 0 };
    this.byId.set(1, this.root);
    this.byIno.set(rootIno, this.root);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: number): Node | undefined {
    return this.byId.get(id);
  }

  /** The node currently known under (parent, name), if any. */
  child(parent: Node, name: string): Node | undefined {
    return this.byEntry.get(key(parent, name));
  }

  /** The path of `node` in the served process, or null for a detached node (or one under a detached directory). */
  path(node: Node): string | null {
    const parts: string[] = [];
    let n = node;
    for (let depth = 0; n !== this.root; depth++) {
      const l = n.links[0];
      if (!l || depth > MAX_DEPTH) return null;
      parts.push(l.name);
      n = l.parent;
    }
    if (parts.length === 0) return this.rootPath;
    parts.reverse();
    return (this.rootPath === '/' ? '' : this.rootPath) + '/' + parts.join('/');
  }

  /** The path of `name` in directory `parent`. */
  childPath(parent: Node, name: string): string | null {
    const p = this.path(parent);
    if (p === null) return null;
    return (p === '/' ? '' : p) + '/' + name;
  }

  /**
   * Records that (parent, name) names the file with inode `ino` and type `fmt`, and counts one lookup
   * when `count`. Returns its node (existing for a hard link or a known file, new otherwise).
   */
  found(parent: Node, name: string, ino: number, fmt: number, count = true): Node {
    let node = this.byEntry.get(key(parent, name));
    if (node && (node.ino !== ino || node.fmt !== fmt)) {
      // The name now holds another file (changed behind our back): forget the old association.
      this.unlinkEntry(parent, name);
      node = undefined;
    }
    if (!node) {
      node = this.byIno.get(ino);
      if (node && node.fmt !== fmt) {
        this.detach(node);
        node = undefined;
      }
      if (!node) {
        node = { id: this.nextId++, ino, fmt, links: [], nlookup: 0, childRefs: 0 };
        this.byId.set(node.id, node);
        this.byIno.set(ino, node);
      }
      if (fmt === 0o040000 && node.links.length > 0) {
        // A directory has one name: it moved.
        for (const l of [...node.links]) this.unlinkEntry(l.parent, l.name);
      }
      node.links.push({ parent, name });
      parent.childRefs++;
      this.byEntry.set(key(parent, name), node);
    }
    if (count) node.nlookup++;
    return node;
  }

  /** The entry (parent, name) is gone (unlink, rmdir, replaced by a rename). */
  unlinkEntry(parent: Node, name: string): void {
    const k = key(parent, name);
    const node = this.byEntry.get(k);
    if (!node) return;
    this.byEntry.delete(k);
    const i = node.links.findIndex((l) => l.parent === parent && l.name === name);
    if (i >= 0) node.links.splice(i, 1);
    this.unref(parent);
    if (node.links.length === 0 && node !== this.root) {
      if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
      this.maybeFree(node);
    }
  }

  /** rename(2) of (parent, name) to (newParent, newName); `exchange` swaps the two entries (RENAME_EXCHANGE). */
  renamed(parent: Node, name: string, newParent: Node, newName: string, exchange: boolean): void {
    const src = this.byEntry.get(key(parent, name));
    const dst = this.byEntry.get(key(newParent, newName));
    if (exchange) {
      if (src) this.moveEntry(src, parent, name, newParent, newName, true);
      if (dst) this.moveEntry(dst, newParent, newName, parent, name, true);
      if (src) this.byEntry.set(key(newParent, newName), src);
      else this.byEntry.delete(key(newParent, newName));
      if (dst) this.byEntry.set(key(parent, name), dst);
      else this.byEntry.delete(key(parent, name));
      return;
    }
    if (src === dst && src) {
      // Two names of one file: POSIX rename does nothing.
      return;
    }
    if (dst) this.unlinkEntry(newParent, newName);
    if (src) {
      this.moveEntry(src, parent, name, newParent, newName, false);
      this.byEntry.delete(key(parent, name));
      this.byEntry.set(key(newParent, newName), src);
    }
  }

  private moveEntry(node: Node, parent: Node, name: string, newParent: Node, newName: string, _exchange: boolean): void {
    const l = node.links.find((x) => x.parent === parent && x.name === name);
    if (!l) return;
    l.parent = newParent;
    l.name = newName;
    newParent.childRefs++;
    this.unref(parent);
  }

  /** FORGET: the host kernel dropped `n` lookups. */
  forget(id: number, n: number): void {
    const node = this.byId.get(id);
    if (!node || node === this.root) return;
    node.nlookup = Math.max(0, node.nlookup - n);
    this.maybeFree(node);
  }

  private detach(node: Node): void {
    for (const l of [...node.links]) this.unlinkEntry(l.parent, l.name);
    if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
  }

  private unref(node: Node): void {
    node.childRefs = Math.max(0, node.childRefs - 1);
    this.maybeFree(node);
  }

  /** Frees nodes nobody refers to; iterative, since freeing a node may free its parent. */
  private maybeFree(first: Node): void {
    const work = [first];
    while (work.length > 0) {
      const node = work.pop()!;
      if (node === this.root || node.nlookup > 0 || node.childRefs > 0 || !this.byId.has(node.id)) continue;
      this.byId.delete(node.id);
      if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
      for (const l of node.links) {
        const k = key(l.parent, l.name);
        if (this.byEntry.get(k) === node) this.byEntry.delete(k);
        l.parent.childRefs = Math.max(0, l.parent.childRefs - 1);
        work.push(l.parent);
      }
      node.links = [];
    }
  }
}

function key(parent: Node, name: string): string {
  return `${parent.id}\0${name}`;
}
