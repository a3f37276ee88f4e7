// A bounded background queue for the Node server's GA forwarding: at most `maxRunning` tasks at
// once and `maxWaiting` waiting; beyond that a task is dropped (and counted), so a GA that hangs
// can neither hold a client nor grow the relay's memory.

export class BackgroundQueue {
  private running = 0;
  private readonly waiting: (() => Promise<void>)[] = [];
  dropped = 0;

  constructor(
    private readonly maxRunning = 32,
    private readonly maxWaiting = 1000,
  ) {}

  get size(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `task` when a slot is free; drops it when the queue is full. Never throws. */
  defer = (task: () => Promise<void>): void => {
    if (this.running < this.maxRunning) {
      this.run(task);
    } else if (this.waiting.length < this.maxWaiting) {
      this.waiting.push(task);
    } else {
      this.dropped += 1;
    }
  };

  /** Resolves once nothing runs or waits (for a graceful shutdown). */
  async drained(): Promise<void> {
    while (this.running > 0 || this.waiting.length > 0)
      await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private run(task: () => Promise<void>): void {
    this.running += 1;
    void task()
      .catch(() => {})
      .finally(() => {
        this.running -= 1;
        const next = this.waiting.shift();
        if (next) this.run(next);
      });
  }
}
