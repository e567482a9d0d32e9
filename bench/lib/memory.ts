import { readdirSync, readFileSync } from "node:fs";

/**
 * Peak resident memory of every process the benchmark started (its descendants, found through /proc every
 * 500 ms) and of the benchmark itself. The peak is the kernel's own high-water mark (VmHWM in
 * /proc/<pid>/status), so a spike between two samples still counts; a process that lives < 500 ms may be
 * missed. Processes are reported by the name they were registered under (a service restarted for each round
 * keeps its name: the peak is over all its lives), others by their command name. Linux only; elsewhere empty.
 */
const SAMPLE_MS = 500;

export interface PeakRss {
  readonly process: string;
  readonly peakMb: number;
  /** Distinct pids seen under this name (one per start). */
  readonly instances: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export class MemoryMonitor {
  private readonly names = new Map<number, string>();
  private readonly peakKb = new Map<string, number>();
  private readonly pids = new Map<string, Set<number>>();
  private timer: NodeJS.Timeout | undefined;

  /** Reports `pid` (and, unless named themselves, its descendants) under `name`. */
  name(pid: number | undefined, name: string): void {
    if (pid !== undefined) this.names.set(pid, name);
  }

  start(): void {
    this.sample();
    this.timer ??= setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** Peaks so far, largest first. */
  peaks(): PeakRss[] {
    return [...this.peakKb]
      .map(([process, kb]) => ({
        process,
        peakMb: Math.round(kb / 102.4) / 10,
        instances: this.pids.get(process)?.size ?? 0,
      }))
      .sort((a, b) => b.peakMb - a.peakMb);
  }

  /** Markdown table of the peaks, with the target of the issue (≤ `aimMb` for the API and each processor). */
  table(aimMb = 150): string {
    return [
      "| process | peak RSS MB | starts | ≤ aim |",
      "|---|---:|---:|---|",
      ...this.peaks().map(
        (p) =>
          `| ${p.process} | ${p.peakMb.toFixed(1)} | ${p.instances} | ${p.peakMb <= aimMb ? "yes" : "no"} |`,
      ),
    ].join("\n");
  }

  private sample(): void {
    let entries: string[];
    try {
      entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
      return; // not Linux
    }
    const parent = new Map<number, number>();
    const comm = new Map<number, string>();
    for (const p of entries) {
      const raw = read(`/proc/${p}/stat`);
      if (!raw) continue;
      const close = raw.lastIndexOf(")");
      parent.set(Number(p), Number(raw.slice(close + 2).split(" ")[1]));
      comm.set(Number(p), raw.slice(raw.indexOf("(") + 1, close));
    }
    for (const pid of parent.keys()) {
      const name = this.owner(pid, parent, comm);
      if (name === undefined) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`) ?? "")?.[1];
      if (hwm === undefined) continue;
      this.peakKb.set(name, Math.max(this.peakKb.get(name) ?? 0, Number(hwm)));
      const seen = this.pids.get(name) ?? new Set<number>();
      seen.add(pid);
      this.pids.set(name, seen);
    }
  }

  /** The name `pid` is reported under, or undefined when it is not the benchmark's. */
  private owner(pid: number, parent: Map<number, number>, comm: Map<number, string>): string | undefined {
    if (pid === process.pid) return "bench (load generator)";
    let unnamed = true;
    for (let p: number | undefined = pid, depth = 0; p && depth < 20; p = parent.get(p), depth++) {
      const named = this.names.get(p);
      if (named !== undefined) return unnamed ? named : `${named} (child ${comm.get(pid)})`;
      if (p === process.pid) return comm.get(pid) ?? String(pid);
      unnamed = false;
    }
    return undefined;
  }
}
