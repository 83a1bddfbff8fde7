/**
 * A tmpfs directory's entries with readdir cookies that stay valid while
 * entries come and go: every entry gets the next value of a per-directory
 * sequence number when it is added, and a cookie is "the first entry whose
 * sequence number is at least this". Entries neither added nor removed during
 * a directory walk are therefore seen exactly once, whatever else happens.
 *
 * Layout: a Map from name to slot for lookup, and an array of slots in
 * sequence order for readdir. Removal marks a slot dead in place (so the
 * array stays sorted) and the array is compacted when dead slots outnumber
 * live ones; resuming at a cookie is a binary search.
 */

/** Cookies 0 and 1 are '.' and '..'; entries start here. */
export const FIRST_SEQ = 2;

export interface DirSlot<N> {
  readonly name: string;
  node: N;
  readonly seq: number;
  dead: boolean;
}

export class DirTable<N> {
  private readonly byName = new Map<string, DirSlot<N>>();
  private order: DirSlot<N>[] = [];
  private deadCount = 0;
  private nextSeq = FIRST_SEQ;

  get size(): number {
    return this.byName.size;
  }

  get(name: string): N | undefined {
    return this.byName.get(name)?.node;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Adds `name` (which must be absent) at the end of the readdir order. */
  add(name: string, node: N): void {
    const slot: DirSlot<N> = { name, node, seq: this.nextSeq++, dead: false };
    this.byName.set(name, slot);
    this.order.push(slot);
  }

  /** Removes `name`; returns the node it named, or undefined. */
  delete(name: string): N | undefined {
    const slot = this.byName.get(name);
    if (slot === undefined) return undefined;
    this.byName.delete(name);
    slot.dead = true;
    if (++this.deadCount > 32 && this.deadCount > this.byName.size) {
      this.order = this.order.filter((s) => !s.dead);
      this.deadCount = 0;
    }
    return slot.node;
  }

  /** Live entries from `cookie` on, at most `max`, with the cookie that continues after each. */
  *from(cookie: number, max: number): Generator<{ name: string; node: N; next: number }> {
    const order = this.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]!.seq < cookie) lo = mid + 1;
      else hi = mid;
    }
    let n = 0;
    for (let i = lo; i < order.length && n < max; i++) {
      const s = order[i]!;
      if (s.dead) continue;
      n++;
      yield { name: s.name, node: s.node, next: s.seq + 1 };
    }
  }

  values(): IterableIterator<N> {
    const it = this.byName.values();
    return (function* () {
      for (const s of it) yield s.node;
    })();
  }

  clear(): void {
    this.byName.clear();
    this.order = [];
    this.deadCount = 0;
  }
}
