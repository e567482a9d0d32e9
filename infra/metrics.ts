import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics of one process (prom-client). One instance per process, created by the composition root
 * and handed to the parts that count things; `GET /metrics` serves `registry.metrics()`.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: "walletstream_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: "walletstream_http_request_duration_seconds",
    help: "HTTP request latency by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: "walletstream_processor_events_total",
    help: "Records handled by processors, by group and outcome (processed, duplicate, retried, dead_lettered, skipped, parked)",
    labelNames: ["group", "outcome"] as const,
    registers: [this.registry],
  });
  readonly handlerDuration = new Histogram({
    name: "walletstream_processor_handler_duration_seconds",
    help: "Time to apply one record (dedupe + handler + outbox; in a batch, its savepoint and handler)",
    labelNames: ["group"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly processorTransactions = new Counter({
    name: "walletstream_processor_transactions_total",
    help: "PostgreSQL transactions that applied records, by group (one per record, or one per chunk when batched)",
    labelNames: ["group"] as const,
    registers: [this.registry],
  });
  readonly consumerLag = new Gauge({
    name: "walletstream_consumer_lag",
    help: "Records not yet processed, per group, topic and partition",
    labelNames: ["group", "topic", "partition"] as const,
    registers: [this.registry],
  });
  readonly outboxBacklog = new Gauge({
    name: "walletstream_outbox_backlog",
    help: "Outbox rows not yet published",
    registers: [this.registry],
  });
  readonly outboxOldestAge = new Gauge({
    name: "walletstream_outbox_oldest_pending_age_seconds",
    help: "Age of the oldest unpublished outbox row (0 when none)",
    registers: [this.registry],
  });
  readonly relayPublished = new Counter({
    name: "walletstream_relay_published_total",
    help: "Outbox rows published to Kafka",
    registers: [this.registry],
  });
  readonly relayPublishDuration = new Histogram({
    name: "walletstream_relay_publish_duration_seconds",
    help: "Time from reading a batch of outbox rows to the broker's acknowledgement",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly relayCommitToAck = new Histogram({
    name: "walletstream_relay_commit_to_ack_seconds",
    help: "Time from an outbox row's insert (its transaction's now()) to the broker's acknowledgement of its record",
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor(labels: { service: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry });
  }
}
