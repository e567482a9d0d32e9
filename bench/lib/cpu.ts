import { readdirSync, readFileSync } from "node:fs";

/**
 * Where the machine's CPU went during a phase, from /proc (Linux only; elsewhere the figures are empty).
 * Every process is sampled every 250 ms, so PostgreSQL backends that live and die inside the phase (pgbench's)
 * count too, less their last < 250 ms. A backend belongs to the benchmark when its process title names the
 * benchmark database ("postgres": the load's sessions plus the relay's and processor's; "autovacuum": workers
 * vacuuming it); other backends and PostgreSQL's background processes are "postgres-other" (the server is
 * shared). pgbench runs are this process's reaped children (cutime/cstime), counted exactly (the services it
 * starts are reaped only when they stop, after the measured phases).
 */
const TICK = 100; // USER_HZ: 100 on every Linux the benchmark targets (getconf CLK_TCK)
const SAMPLE_MS = 250;

export interface CpuRoles {
  readonly api: readonly number[];
  readonly workers: readonly number[];
  /** The benchmark database's name, as it appears in its backends' process titles. */
  readonly database: string;
}

interface Seen {
  group: string;
  first: number;
  last: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // exited meanwhile, or not Linux
  }
}

function classify(pid: number, comm: string, roles: CpuRoles): string {
  if (roles.api.includes(pid)) return "api";
  if (roles.workers.includes(pid)) return "relay+processor";
  if (comm === "pgbench") return "skip"; // counted exactly from this process's cutime/cstime once reaped
  if (comm === "postgres") {
    const title = read(`/proc/${pid}/cmdline`) ?? "";
    if (!title.includes(` ${roles.database}`)) return "postgres-other";
    return title.includes("autovacuum") ? "autovacuum" : "postgres";
  }
  if (comm === "java") {
    const cmd = read(`/proc/${pid}/cmdline`) ?? "";
    return cmd.includes("kafka.Kafka") ? "kafka" : cmd.includes("quarkus") ? "registry" : "other";
  }
  return "other";
}

function machineTicks(): { busy: number; all: number } {
  const cpu = (read("/proc/stat")?.split("\n")[0] ?? "").split(/\s+/).slice(1, 9).map(Number);
  const all = cpu.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { busy: all - (cpu[3] ?? 0) - (cpu[4] ?? 0), all }; // minus idle and iowait
}

/** Cores used per group (and by the whole machine) between the call and the returned stop(). */
export function measureCpu(roles: CpuRoles): () => Record<string, number> {
  const seen = new Map<number, Seen>();
  const uptimeTicks = () => Number((read("/proc/uptime") ?? "0").split(" ")[0]) * TICK;
  const startedAt = uptimeTicks();
  let self = { own: 0, children: 0 };
  const sample = (first: boolean) => {
    let pids: string[] = [];
    try {
      pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
      return; // not Linux
    }
    for (const p of pids) {
      const raw = read(`/proc/${p}/stat`);
      if (!raw) continue;
      const close = raw.lastIndexOf(")");
      const f = raw.slice(close + 2).split(" "); // f[0] is field 3: utime 14, stime 15, cutime 16, cstime 17, starttime 22
      const own = Number(f[11]) + Number(f[12]);
      const pid = Number(p);
      if (pid === process.pid) {
        self = { own, children: Number(f[13]) + Number(f[14]) };
        continue;
      }
      const s = seen.get(pid);
      if (s) s.last = own;
      else {
        // Born during the phase: all its time is the phase's.
        const base = first || Number(f[19]) < startedAt ? own : 0;
        seen.set(pid, {
          group: classify(pid, raw.slice(raw.indexOf("(") + 1, close), roles),
          first: base,
          last: own,
        });
      }
    }
  };
  const m0 = machineTicks();
  const t0 = performance.now();
  sample(true);
  const self0 = self;
  const timer = setInterval(() => sample(false), SAMPLE_MS);
  return () => {
    clearInterval(timer);
    sample(false);
    const secs = (performance.now() - t0) / 1000;
    const m1 = machineTicks();
    const ticks = new Map<string, number>();
    const add = (g: string, t: number) => ticks.set(g, (ticks.get(g) ?? 0) + Math.max(0, t));
    for (const s of seen.values()) add(s.group, s.last - s.first);
    add("bench", self.own - self0.own);
    add("pgbench", self.children - self0.children);
    const round = (x: number) => Math.round(x * 100) / 100;
    const machine = (m1.busy - m0.busy) / TICK / secs;
    const out: Record<string, number> = { machine: round(machine) };
    let named = 0;
    for (const [g, t] of ticks) {
      if (g === "other" || g === "skip") continue;
      named += t / TICK / secs;
      out[g] = round(t / TICK / secs);
    }
    out.other = round(Math.max(0, machine - named));
    return out;
  };
}
