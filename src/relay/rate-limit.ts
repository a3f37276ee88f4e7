// A per-client token bucket. Keys live in memory only, and idle ones are dropped so a
// flood of distinct addresses cannot grow the map without bound.

export interface RateLimiter {
  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean;
}

export interface TokenBucketOptions {
  perSecond: number;
  burst: number;
  maxKeys?: number;
  now?: () => number;
}

export class TokenBucketLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenBucketOptions) {
    this.maxKeys = options.maxKeys ?? 50_000;
    this.now = options.now ?? Date.now;
  }

  take(key: string): boolean {
    const now = this.now();
    const { perSecond, burst } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= this.maxKeys) this.dropFullBuckets(now);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** A bucket that has refilled completely holds no state worth keeping. */
  private dropFullBuckets(now: number): void {
    const { perSecond, burst } = this.options;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
    // Still full of active clients: forget the oldest rather than grow.
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
