/**
 * A log-bucketed latency histogram: constant memory whatever the sample count, 1 %
 * relative precision, and mergeable across load processes. Values are microseconds.
 */
const BASE = 1.01;
const INV_LOG_BASE = 1 / Math.log(BASE);
/** 1 µs .. about 70 s. */
const BUCKETS = 1900;

export interface HistogramJson {
  counts: [number, number][];
  count: number;
  sum: number;
  min: number;
  max: number;
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  record(us: number): void {
    const v = Math.max(us, 1);
    let index = Math.floor(Math.log(v) * INV_LOG_BASE);
    if (index >= BUCKETS) index = BUCKETS - 1;
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.count += 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** The bucket's geometric middle, clamped to the observed range. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, BASE ** (i + 0.5)));
    }
    return this.max;
  }

  merge(other: Histogram): this {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    return this;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  summary(): LatencySummary {
    const ms = (us: number) => (Number.isFinite(us) ? Math.round(us) / 1000 : Number.NaN);
    return {
      count: this.count,
      meanMs: this.count ? ms(this.sum / this.count) : Number.NaN,
      p50Ms: ms(this.percentile(50)),
      p95Ms: ms(this.percentile(95)),
      p99Ms: ms(this.percentile(99)),
      maxMs: this.count ? ms(this.max) : Number.NaN,
    };
  }

  toJSON(): HistogramJson {
    const counts: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i] ?? 0;
      if (c > 0) counts.push([i, c]);
    }
    return { counts, count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    for (const [i, c] of json.counts) h.counts[i] = c;
    h.count = json.count;
    h.sum = json.sum;
    h.min = json.count ? json.min : Number.POSITIVE_INFINITY;
    h.max = json.max;
    return h;
  }
}
