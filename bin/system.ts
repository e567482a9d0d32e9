import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createApp } from "../api/app.js";
import { tokenService } from "../api/auth.js";
import { purgeExpiredKeys } from "../api/money/idempotency.js";
import { answerClientError } from "../api/problem.js";
import type { Config } from "../infra/config.js";
import { migrate } from "../infra/db/migrate.js";
import { createPool, type Pool } from "../infra/db/pool.js";
import { createKafkaBus, type EventBus, type Publisher } from "../infra/kafka/index.js";
import type { Logger } from "../infra/log.js";
import { Metrics } from "../infra/metrics.js";
import { EventCodec } from "../infra/registry.js";
import { declaredTopics, type TopicNames, topicNames } from "../infra/topics.js";
import { ProcessorRunner, processorCatalog } from "../processors/index.js";
import { GroupOperations } from "../processors/operations.js";
import type { Processor } from "../processors/types.js";
import { OutboxRelay } from "../producers/relay.js";
import type { EventType } from "../schemas/index.js";
import { refreshGauges, serveMetrics } from "./observability.js";

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

export interface SystemParts {
  readonly api?: boolean;
  readonly relay?: boolean;
  /** Processor names; see processors/index.ts. */
  readonly processors?: readonly string[];
}

/**
 * The composition root: builds the adapters once (pool, Kafka bus, registry codec) and starts the parts this
 * process runs. start(): migrate, provision topics, register schemas, then serve. stop(): stop taking work,
 * finish in-flight work, commit, close — in reverse order.
 */
export class System {
  readonly pool: Pool;
  readonly bus: EventBus;
  readonly names: TopicNames;
  readonly codec: EventCodec;
  readonly runners: ProcessorRunner<EventType>[] = [];
  relay: OutboxRelay | undefined;
  private server: Server | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private metricsServer: Server | undefined;
  private stopGauges: (() => void) | undefined;
  readonly metrics: Metrics;
  private relayPublisher: Publisher | undefined;
  private readonly processors: Processor<EventType>[];

  constructor(
    readonly config: Config,
    readonly log: Logger,
    private readonly parts: SystemParts,
  ) {
    this.pool = createPool(config);
    this.bus = createKafkaBus({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
      log,
    });
    this.names = topicNames(config);
    this.codec = new EventCodec(config.registry.url, this.names);
    this.metrics = new Metrics({ service: log.bindings().service ?? config.serviceName });
    const catalog = processorCatalog(config);
    this.processors = (parts.processors ?? []).map((name) => {
      const p = catalog.get(name);
      if (!p) throw new Error(`unknown processor "${name}"; known: ${[...catalog.keys()].join(", ")}`);
      return p;
    });
  }

  /** Migrations, topics and schemas: idempotent, safe from every process at once. */
  async bootstrap(): Promise<void> {
    if (this.config.migrateOnStart) await migrate(this.config.db.url, this.log);
    const all = [...processorCatalog(this.config).values()];
    const admin = await this.bus.admin();
    try {
      const res = await admin.ensureTopics(declaredTopics(this.config, all));
      if (res.created.length) this.log.info({ topics: res.created }, "topics created");
      if (res.reconfigured.length) this.log.info({ topics: res.reconfigured }, "topic configs updated");
      for (const t of res.underPartitioned) {
        this.log.warn(
          t,
          "topic has fewer partitions than declared; see docs/operations.md to add partitions",
        );
      }
    } finally {
      await admin.close();
    }
    const ids = await this.codec.registerAll();
    this.log.info({ schemas: Object.fromEntries(ids) }, "schemas registered");
  }

  async start(): Promise<void> {
    // An API alone never talks to Kafka or the registry (its events go through the outbox): it must come up
    // while either is down, so it only migrates. Topics and schemas are provisioned by the relay and processors.
    const apiOnly = this.parts.api === true && !this.parts.relay && this.processors.length === 0;
    if (!apiOnly) await this.bootstrap();
    else if (this.config.migrateOnStart) await migrate(this.config.db.url, this.log);
    if (this.parts.relay) {
      this.relayPublisher = await this.bus.publisher();
      this.relay = new OutboxRelay(
        {
          databaseUrl: this.config.db.url,
          batchSize: this.config.outbox.batchSize,
          pollIntervalMs: this.config.outbox.pollIntervalMs,
          coalesceMs: this.config.outbox.coalesceMs,
          retentionHours: this.config.outbox.retentionHours,
        },
        this.relayPublisher,
        this.codec,
        this.names,
        this.log.child({ component: "relay" }),
        this.metrics,
      );
      this.relay.start();
    }
    for (const p of this.processors) {
      const runner = new ProcessorRunner(p, {
        bus: this.bus,
        codec: this.codec,
        pool: this.pool,
        names: this.names,
        log: this.log,
        metrics: this.metrics,
        batchMax: this.config.processor.batchMax,
        concurrency: this.config.processor.concurrency,
        maxRecordBytes: this.config.processor.maxRecordBytes,
      });
      await runner.start();
      this.runners.push(runner);
    }
    this.stopGauges = refreshGauges({
      metrics: this.metrics,
      pool: this.pool,
      log: this.log,
      outbox: this.parts.relay === true,
      processors: this.processors,
      groups: new GroupOperations({ bus: this.bus, pool: this.pool, names: this.names }),
      groupName: (g) => this.names.group(g),
    });
    if (this.parts.api) await this.listen();
    else if (this.config.metricsPort !== undefined) {
      this.metricsServer = await serveMetrics(this.metrics, this.config.http.host, this.config.metricsPort);
      this.log.info({ port: this.config.metricsPort }, "metrics served at /metrics");
    }
  }

  /** The API's address once listening (port 0 picks a free one). */
  get apiUrl(): string | undefined {
    const addr = this.server?.address();
    return addr && typeof addr === "object" ? `http://${this.config.http.host}:${addr.port}` : undefined;
  }

  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    this.stopGauges?.();
    this.metricsServer?.close();
    const closing = (async () => {
      if (this.server) {
        const server = this.server;
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
      }
      await Promise.all(this.runners.map((r) => r.stop()));
      await this.relay?.stop();
      await this.relayPublisher?.close();
      await this.pool.end();
    })();
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("shutdown timed out")), this.config.shutdownTimeoutMs).unref(),
    );
    await Promise.race([closing, timeout]);
  }

  private async listen(): Promise<void> {
    const { app } = createApp({
      pool: this.pool,
      log: this.log.child({ component: "api" }),
      tokens: tokenService({
        secret: this.config.auth.jwtSecret,
        issuer: this.config.auth.jwtIssuer,
        ttlSeconds: this.config.auth.jwtTtlSeconds,
      }),
      bodyLimitBytes: this.config.http.bodyLimitBytes,
      passwordMinLength: this.config.auth.passwordMinLength,
      passwordHash: this.config.auth.passwordHash,
      maxAmount: this.config.money.maxAmount,
      version: PACKAGE_VERSION,
      readiness: () => this.readiness(),
      metrics: this.metrics,
    });
    const server = app.listen(this.config.http.port, this.config.http.host);
    // Stop idle keep-alive sockets from holding shutdown open.
    server.keepAliveTimeout = 5000;
    server.on("clientError", answerClientError);
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    server.on("close", () => server.closeIdleConnections());
    this.server = server;
    this.log.info({ url: this.apiUrl }, "API listening");
    this.housekeeping = setInterval(() => {
      purgeExpiredKeys(this.pool, this.config.money.idempotencyTtlHours).then(
        (n) => n && this.log.info({ deleted: n }, "expired idempotency keys purged"),
        (err: unknown) => this.log.warn({ err }, "idempotency key purge failed"),
      );
    }, 10 * 60_000).unref();
  }

  private async readiness(): Promise<Record<string, boolean>> {
    const [postgres, kafka, registry] = await Promise.all([
      this.pool
        .query("SELECT 1")
        .then(() => true)
        .catch(() => false),
      this.bus.ping(2000),
      fetch(`${this.config.registry.url.replace(/\/$/, "")}/subjects`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.ok)
        .catch(() => false),
    ]);
    return { postgres, kafka, registry };
  }
}
