import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Timeline } from "./timeline.js";

export const PROCESSORS = ["wallet", "notifications", "email", "audit"] as const;
export type ProcessorName = (typeof PROCESSORS)[number];
export const SERVICES = ["api", "relay", ...PROCESSORS] as const;
export type ServiceName = (typeof SERVICES)[number];

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function entryPoint(service: ServiceName): string[] {
  if (service === "api") return ["bin/api.ts"];
  if (service === "relay") return ["bin/relay.ts"];
  return ["bin/processor.ts", service];
}

/** One OS process of a service, like `npm run start:processor -- email`, output appended to its log file. */
class Instance {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** False once we signalled it: its exit is then not a crash, and a pending restart is called off. */
  wanted = false;
  starts = 0;

  constructor(
    readonly id: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly args: string[],
    private readonly logFile: string,
    private readonly onCrash: (instance: Instance, how: string) => void,
  ) {}

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.alive ? this.child?.pid : undefined;
  }

  start(): void {
    if (this.alive) return;
    this.starts++;
    this.wanted = true;
    appendFileSync(this.logFile, `--- ${new Date().toISOString()} chaos: starting ${this.id}\n`);
    const fd = openSync(this.logFile, "a");
    // node --import tsx, not the tsx CLI: one OS process per service, so a signal reaches the service itself.
    const child = spawn(process.execPath, ["--import", "tsx", ...this.args], {
      cwd: ROOT,
      env: this.env,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (this.wanted) this.onCrash(this, signal ?? `exit code ${code}`);
        resolve();
      });
    });
  }

  /** Sends `signal` and waits for the exit; a SIGTERM that does not end it in `timeoutMs` becomes a SIGKILL. */
  async signal(signal: "SIGKILL" | "SIGTERM", timeoutMs = 15_000): Promise<void> {
    this.wanted = false;
    if (!this.alive) return;
    this.child?.kill(signal);
    const done = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) {
      this.child?.kill("SIGKILL");
      await this.exited;
    }
  }

  /** Synchronous, for process exit handlers: no waiting possible there. */
  killNow(): void {
    this.wanted = false;
    if (!this.alive) return;
    this.child?.kill("SIGKILL");
  }
}

/**
 * Every service process of the run. A process that dies without being told to (a start-up that failed while
 * Kafka was restarting, a consumer that crashed) is restarted after a second, as a supervisor (systemd,
 * Kubernetes) would, and the exit is written to the timeline: the invariants must hold anyway.
 */
export class Fleet {
  private readonly instances = new Map<string, Instance>();
  private closed = false;
  unplannedExits = 0;

  constructor(
    private readonly opts: {
      /** Environment of every service process (database through the proxy, prefixes, short retries). */
      readonly env: NodeJS.ProcessEnv;
      /** Extra variables per service (the API's port, pool sizes). */
      readonly envOf: (service: ServiceName) => NodeJS.ProcessEnv;
      readonly logDir: string;
      readonly timeline: Timeline;
    },
  ) {}

  /** Starts replica `replica` of `service` (1 is the primary; 2 is the scale-out member). */
  start(service: ServiceName, replica = 1): void {
    const id = replica === 1 ? service : `${service}#${replica}`;
    let instance = this.instances.get(id);
    if (!instance) {
      instance = new Instance(
        id,
        { ...this.opts.env, ...this.opts.envOf(service) },
        entryPoint(service),
        join(this.opts.logDir, `${id.replace("#", "-")}.log`),
        (i, how) => this.crashed(i, how),
      );
      this.instances.set(id, instance);
    }
    instance.start();
  }

  async kill(service: ServiceName, replica = 1): Promise<void> {
    await this.get(service, replica)?.signal("SIGKILL");
  }

  /** A clean stop (SIGTERM): the member finishes its records, commits and leaves its group. */
  async stop(service: ServiceName, replica = 1): Promise<void> {
    await this.get(service, replica)?.signal("SIGTERM");
  }

  alive(service: ServiceName, replica = 1): boolean {
    return this.get(service, replica)?.alive === true;
  }

  /** Stops everything, cleanly first; no restarts after this. */
  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.instances.values()].map((i) => i.signal("SIGTERM", 12_000)));
  }

  killAllNow(): void {
    this.closed = true;
    for (const i of this.instances.values()) i.killNow();
  }

  private get(service: ServiceName, replica: number): Instance | undefined {
    return this.instances.get(replica === 1 ? service : `${service}#${replica}`);
  }

  private crashed(instance: Instance, how: string): void {
    if (this.closed) return;
    this.unplannedExits++;
    this.opts.timeline.note(`unplanned exit of ${instance.id}`, `${how}; restarting in 1 s`);
    setTimeout(() => {
      if (!this.closed && instance.wanted) instance.start();
    }, 1000).unref();
  }
}
