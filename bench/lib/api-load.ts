import { randomUUID } from "node:crypto";
import autocannon, { type Request } from "autocannon";
import { type LatencySummary, summarize } from "./stats.js";

export interface BenchUser {
  readonly email: string;
  readonly token: string;
  readonly userId: string;
  readonly walletId: string;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; token?: string; key?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.json !== undefined) headers["content-type"] = "application/json";
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.key) headers["idempotency-key"] = opts.key;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function expect(r: Reply, status: number, what: string): Reply {
  if (r.status !== status)
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Registers `n` users over HTTP, logs them in, waits for their wallets (created by the wallet processor from
 * user_registered, through Kafka) and deposits `deposit` into each.
 */
export async function setupUsers(
  base: string,
  n: number,
  deposit: number,
  tag: string,
  progress: (m: string) => void,
): Promise<BenchUser[]> {
  const password = "benchmark password";
  const indexes = Array.from({ length: n }, (_, i) => i);
  const ids = await pool(indexes, 8, async (i) => {
    const email = `${tag}-${i}@bench.example.com`;
    const reg = expect(
      await call(base, "POST", "/v1/users", { json: { email, password, displayName: `Bench ${i}` } }),
      201,
      "register",
    );
    const login = expect(
      await call(base, "POST", "/v1/sessions", { json: { email, password } }),
      200,
      "login",
    );
    return { email, userId: reg.body.id as string, token: login.body.accessToken as string };
  });
  progress(`registered and logged in ${n} users`);
  const deadline = Date.now() + 90_000;
  const users = await pool(ids, 16, async (u) => {
    for (;;) {
      const r = await call(base, "GET", "/v1/wallets/me", { token: u.token });
      if (r.status === 200) return { ...u, walletId: r.body.id as string };
      if (r.status !== 404 || Date.now() > deadline) expect(r, 200, `wallet of ${u.email}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
  progress(`${n} wallets provisioned (through Kafka)`);
  const fund = async (u: BenchUser) =>
    expect(
      await call(base, "POST", "/v1/wallets/me/deposits", {
        json: { amount: deposit },
        token: u.token,
        key: randomUUID(),
      }),
      201,
      "deposit",
    );
  // The first deposit alone creates the "external" system account; concurrent first deposits on a fresh
  // database raced on it before d748757 (500 "no external account for USD").
  await fund(users[0] as BenchUser);
  await pool(users.slice(1), 16, fund);
  progress(`deposited ${deposit} into each wallet`);
  return users;
}

export interface ApiRun {
  readonly clients: number;
  readonly seconds: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly txPerSec: number;
  /** From every 2xx response time (sub-millisecond resolution), not autocannon's integer histogram. */
  readonly latency: LatencySummary;
  readonly autocannon: { readonly p50: number; readonly p99: number; readonly average: number };
  readonly statusCodes: Record<string, number>;
  /** The run's span on the monotonic clock (µs), the clock of V8 CPU profiles: bench/profile-summary.ts uses it. */
  readonly windowUs: readonly [number, number];
}

/**
 * POST /v1/transfers for `seconds` over `clients` keep-alive connections: a random sender, a random other
 * recipient, amount 1, a fresh Idempotency-Key each time.
 */
export function runTransfers(
  base: string,
  users: readonly BenchUser[],
  clients: number,
  seconds: number,
): Promise<ApiRun> {
  const pick = () => Math.floor(Math.random() * users.length);
  return runLoad(base, clients, seconds, "/v1/transfers", (req) => {
    const from = pick();
    let to = pick();
    while (to === from) to = pick();
    return {
      ...req,
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${(users[from] as BenchUser).token}`,
        "idempotency-key": randomUUID(),
      },
      body: JSON.stringify({ toWalletId: (users[to] as BenchUser).walletId, amount: 1 }),
    };
  });
}

/** POST /v1/users for `seconds` over `clients` keep-alive connections, a new email each time (closed loop). */
export function runRegistrations(
  base: string,
  tag: string,
  clients: number,
  seconds: number,
): Promise<ApiRun> {
  let n = 0;
  return runLoad(base, clients, seconds, "/v1/users", (req) => {
    const i = n++;
    return {
      ...req,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        email: `${tag}-cap-${i}@bench.example.com`,
        password: "benchmark password",
        displayName: `Bench ${i}`,
      }),
    };
  });
}

/** autocannon: POST `path` over `clients` connections for `seconds`, each request built by `setupRequest`. */
function runLoad(
  base: string,
  clients: number,
  seconds: number,
  path: string,
  setupRequest: (req: Request) => Request,
): Promise<ApiRun> {
  const latencies: number[] = [];
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const startUs = nowUs();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: base,
        connections: clients,
        duration: seconds,
        timeout: 30,
        requests: [{ method: "POST", path, setupRequest }],
      },
      (err, r) => {
        if (err) return reject(err);
        const codes: Record<string, number> = {};
        for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) codes[code] = s.count;
        resolve({
          clients,
          seconds: r.duration,
          ok: r["2xx"],
          non2xx: r.non2xx,
          errors: r.errors,
          timeouts: r.timeouts,
          txPerSec: r["2xx"] / r.duration,
          latency: summarize(latencies),
          autocannon: { p50: r.latency.p50, p99: r.latency.p99, average: r.latency.average },
          statusCodes: codes,
          windowUs: [startUs, nowUs()],
        });
      },
    );
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}
