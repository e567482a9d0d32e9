import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../../infra/config.js";
import {
  assertAlive,
  bootstrap,
  Cleanup,
  codeVersion,
  createDatabase,
  deleteKafkaState,
  dropDatabase,
  ROOT,
  Service,
  withDatabase,
} from "./env.js";
import { MemoryMonitor } from "./memory.js";
import { writeResultsFile } from "./report.js";

/**
 * What every benchmark of the event pipeline shares: a fresh database `bench_<random>` and topic / group prefix
 * `bench<random>.` on the stack's services, progress lines with elapsed seconds, a time budget, child
 * processes (the project's entry points) whose peak RSS is sampled, and one clean-up whatever ends the run
 * (success, error, Ctrl-C, budget): processes stopped, topics and groups deleted, database dropped. It never
 * touches what it did not create.
 */
export class BenchRun {
  readonly t0 = performance.now();
  readonly id = `bench_${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  readonly prefix = `bench${this.id.slice(6)}.`;
  readonly baseUrl = loadConfig().db.url;
  readonly dbUrl = withDatabase(this.baseUrl, this.id);
  readonly work = mkdtempSync(join(tmpdir(), "walletstream-bench-"));
  readonly resultsDir = join(ROOT, "bench", "results");
  readonly cleanup = new Cleanup();
  readonly memory = new MemoryMonitor();
  readonly code = codeVersion();
  /** Consumer groups the run created (deleted at the end with the topics). */
  readonly groups: string[] = [];
  private readonly services: Service[] = [];
  private readonly deadline: NodeJS.Timeout;
  private aborting = false;

  constructor(
    readonly name: string,
    readonly budgetS: number,
  ) {
    this.deadline = setTimeout(
      () => void this.abort(`time budget of ${budgetS} s exceeded`, 1),
      budgetS * 1000,
    );
    this.deadline.unref();
    process.on("SIGINT", () => void this.abort("interrupted", 130));
    process.on("SIGTERM", () => void this.abort("terminated", 143));
    this.cleanup.add(`removed ${this.work}`, async () => rmSync(this.work, { recursive: true, force: true }));
  }

  readonly say = (msg: string): void => console.log(`[${this.elapsed().toFixed(0).padStart(4)} s] ${msg}`);

  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Environment of the run's processes: its database and prefixes, warn-level logs, plus `extra`. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: this.dbUrl,
      TOPIC_PREFIX: this.prefix,
      GROUP_PREFIX: this.prefix,
      LOG_LEVEL: "warn",
      ...extra,
    };
  }

  /** The group name a processor declaring `group` joins under GROUP_PREFIX `groupPrefix`; recorded for clean-up. */
  group(name: string, groupPrefix = this.prefix): string {
    const full = `${groupPrefix}${name}`;
    if (!this.groups.includes(full)) this.groups.push(full);
    return full;
  }

  /** Database, migrations, topics and schemas; registers their removal. Starts the memory sampling. */
  async setUp(): Promise<void> {
    this.memory.start();
    this.cleanup.add("stopped memory sampling", async () => this.memory.stop());
    await createDatabase(this.baseUrl, this.id);
    this.cleanup.add(`dropped database ${this.id}`, () => dropDatabase(this.baseUrl, this.id));
    this.cleanup.add(`deleted Kafka topics ${this.prefix}* and the run's groups`, () =>
      deleteKafkaState(this.env(), this.prefix, this.groups),
    );
    await bootstrap(this.env(), this.say);
  }

  /** A child process (`node --import tsx <script…>`), stopped by the clean-up; not started yet. */
  service(
    name: string,
    script: string[],
    env: NodeJS.ProcessEnv = this.env(),
    nodeArgs: string[] = [],
  ): Service {
    const s = new Service(name, script, env, join(this.work, `${name.replace(/\W+/g, "-")}.log`), nodeArgs);
    this.services.push(s);
    this.cleanup.add(`stopped ${name}`, () => s.stop());
    return s;
  }

  /** Starts `s` and names its pid for the memory figures. */
  start(s: Service): void {
    s.start();
    this.memory.name(s.pid, s.name);
  }

  /**
   * Starts the services and waits until `ready` resolves; up to three attempts, since the shared broker may be
   * restarting under someone else's test and the services exit when Kafka drops them during start-up.
   */
  async startAll(services: readonly Service[], ready: (alive: () => void) => Promise<void>): Promise<void> {
    const alive = () => assertAlive(services);
    for (let attempt = 1; ; attempt++) {
      for (const s of services) this.start(s);
      try {
        return await ready(alive);
      } catch (err) {
        if (attempt === 3) throw err;
        this.say(`start-up failed (${(err as Error).message.split("\n")[0]}); starting again in 10 s`);
        await Promise.all(services.map((s) => s.stop()));
        await sleep(10_000);
      }
    }
  }

  /** Writes bench/results/<name>-<time>.json with the run's identity, the machine and the memory peaks. */
  writeResults(data: Record<string, unknown>): string {
    return writeResultsFile(this.resultsDir, this.name, {
      id: this.id,
      benchmark: this.name,
      at: new Date().toISOString(),
      code: this.code,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg(), node: process.version },
      ...data,
      memory: this.memory.peaks(),
    });
  }

  /** Runs `main`, reports a failure with the services' last log lines, cleans up and exits. */
  async run(main: () => Promise<void>): Promise<never> {
    try {
      await main();
    } catch (err) {
      this.say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      for (const s of this.services) console.log(`--- last lines of ${s.name}'s log:\n${s.tail()}`);
      process.exitCode = 1;
    }
    clearTimeout(this.deadline);
    await this.cleanup.run(this.say);
    this.say("done");
    // Stray handles (keep-alive sockets, kafkajs timers) must not keep a finished run alive.
    await sleep(100);
    process.exit(process.exitCode ?? 0);
  }

  /** Peak RSS of every process, printed after the results. */
  printMemory(): void {
    this.memory.stop();
    console.log(`Peak RSS (VmHWM; aim ≤ 150 MB for the API and each processor):\n\n${this.memory.table()}\n`);
  }

  // A second signal does not cut the clean-up short (it would leave processes, topics and the database behind).
  private async abort(reason: string, code: number): Promise<void> {
    this.say(this.aborting ? `${reason} again: still cleaning up` : `stopping: ${reason}`);
    this.aborting = true;
    await this.cleanup.run(this.say);
    process.exit(code);
  }
}

/** "PASS" / "MISS" with the figure and the target, for the verdict lines. */
export function check(pass: boolean, text: string): { pass: boolean; text: string } {
  return { pass, text: `${pass ? "PASS" : "MISS"}: ${text}` };
}
