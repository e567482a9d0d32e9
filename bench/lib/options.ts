import { parseArgs } from "node:util";

/** The command line of bench/transfers.ts (see docs/benchmarks.md for each flag). */
export function parseOptions() {
  const { values: o } = parseArgs({
    options: {
      duration: { type: "string", default: "10" },
      rounds: { type: "string", default: "3" },
      clients: { type: "string", default: "1,16,64" },
      users: { type: "string", default: "200" },
      warmup: { type: "string", default: "3" },
      pool: { type: "string", default: "20" },
      pgbench: { type: "string", default: process.env.PGBENCH ?? "pgbench" },
      profile: { type: "boolean", default: false },
      extended: { type: "boolean", default: false },
      "no-vacuum": { type: "boolean", default: false },
    },
  });
  const opts = {
    seconds: Number(o.duration),
    rounds: Number(o.rounds),
    clients: o.clients.split(",").map(Number),
    users: Number(o.users),
    warmup: Number(o.warmup),
    pool: Number(o.pool),
    pgbench: o.pgbench,
    profile: o.profile,
    extended: o.extended,
    vacuum: !o["no-vacuum"],
  };
  const ints = [opts.seconds, opts.rounds, opts.users, opts.warmup, opts.pool, ...opts.clients];
  if (!ints.every((x) => Number.isInteger(x) && x >= 0) || opts.users < 2 || opts.pool < 1) {
    console.error(
      "usage: --duration S --rounds N --clients 1,16,64 --users N(≥2) --warmup S --pool N (integers)",
    );
    process.exit(2);
  }
  return opts;
}

/**
 * The command line of the event benchmarks: every flag a non-negative number with a default
 * (`--events 20000`), booleans as `--name` (false unless given). Exits with the usage on a bad value.
 */
export function numericOptions<N extends string, B extends string = never>(
  numbers: Record<N, number>,
  booleans: readonly B[] = [],
): Record<N, number> & Record<B, boolean> {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(Object.keys(numbers).map((k) => [k, { type: "string" as const }])),
      ...Object.fromEntries(booleans.map((k) => [k, { type: "boolean" as const, default: false }])),
    },
  });
  const out: Record<string, number | boolean> = {};
  for (const [k, def] of Object.entries(numbers) as [string, number][]) {
    const raw = values[k];
    const v = raw === undefined ? def : Number(raw);
    if (!Number.isFinite(v) || v < 0) {
      const flags = Object.entries(numbers).map(([n, d]) => `--${n} ${d}`);
      console.error(
        `bad --${k} ${String(raw)}; usage: ${[...flags, ...booleans.map((b) => `--${b}`)].join(" ")}`,
      );
      process.exit(2);
    }
    out[k] = v;
  }
  for (const b of booleans) out[b] = values[b] === true;
  return out as Record<N, number> & Record<B, boolean>;
}
