/**
 * Sleep locks for a kernel whose lwps are async call chains on one thread.
 * A chain can only lose the CPU at an `await`, as a process in the old UNIX
 * kernel could only lose it when it slept; these locks protect state that
 * must stay consistent across such an await. FIFO, no recursion, no priority.
 */

type Waiter = () => void;

/** Analogous to NetBSD's kmutex_t (adaptive, sleeping). */
export class Mutex {
  private locked = false;
  private readonly waiters: Waiter[] = [];

  get held(): boolean {
    return this.locked;
  }

  /** Resolves when the caller holds the lock; uncontended it costs one microtask. */
  enter(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  tryEnter(): boolean {
    if (this.locked) return false;
    this.locked = true;
    return true;
  }

  exit(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }

  async with<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.enter();
    try {
      return await fn();
    } finally {
      this.exit();
    }
  }
}

/** Analogous to NetBSD's krwlock_t: many readers or one writer; a waiting writer blocks new readers. */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: { write: boolean; wake: Waiter }[] = [];

  get readHeld(): boolean {
    return this.readers > 0;
  }
  get writeHeld(): boolean {
    return this.writer;
  }

  /** Takes the lock shared when that needs no wait (no writer holds or waits for it); false otherwise. */
  tryEnterRead(): boolean {
    if (this.writer || this.queue.length > 0) return false;
    this.readers++;
    return true;
  }

  enterRead(): Promise<void> {
    if (this.tryEnterRead()) return Promise.resolve();
    return new Promise((wake) => this.queue.push({ write: false, wake }));
  }

  /** Takes the lock exclusively when that needs no wait; false otherwise. */
  tryEnterWrite(): boolean {
    if (this.writer || this.readers > 0) return false;
    this.writer = true;
    return true;
  }

  enterWrite(): Promise<void> {
    if (this.tryEnterWrite()) return Promise.resolve();
    return new Promise((wake) => this.queue.push({ write: true, wake }));
  }

  exitRead(): void {
    this.readers--;
    this.dispatch();
  }

  exitWrite(): void {
    this.writer = false;
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.writer) {
      const head = this.queue[0]!;
      if (head.write) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        head.wake();
        return;
      }
      this.queue.shift();
      this.readers++;
      head.wake();
    }
  }

  async withRead<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.enterRead();
    try {
      return await fn();
    } finally {
      this.exitRead();
    }
  }

  async withWrite<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.enterWrite();
    try {
      return await fn();
    } finally {
      this.exitWrite();
    }
  }
}

/** Analogous to NetBSD's kcondvar_t; the caller holds `mutex` around wait() and re-checks its predicate. */
export class CondVar {
  private readonly waiters: Waiter[] = [];

  async wait(mutex: Mutex): Promise<void> {
    const woken = new Promise<void>((resolve) => this.waiters.push(resolve));
    mutex.exit();
    await woken;
    await mutex.enter();
  }

  signal(): void {
    this.waiters.shift()?.();
  }

  broadcast(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
