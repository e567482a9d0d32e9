import { z } from "zod";

/**
 * The one place the environment is read. `loadConfig()` parses it once with a schema, fails at start-up
 * naming every bad variable, and returns a frozen object that is passed down; nothing else reads
 * process.env. Defaults point at the local stack that `npm run infra:up` starts.
 */

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const list = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);

const DEV_JWT_SECRET = "walletstream-local-development-secret-change-me";

const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    SERVICE_NAME: z.string().min(1).default("walletstream"),

    HTTP_HOST: z.string().min(1).default("127.0.0.1"),
    HTTP_PORT: port.default(3000),
    HTTP_BODY_LIMIT_BYTES: positiveInt.default(16 * 1024),

    DATABASE_URL: z
      .url({ protocol: /^postgres(ql)?$/ })
      .default("postgres://postgres@127.0.0.1:5432/walletstream"),
    DATABASE_POOL_MAX: positiveInt.default(10),
    DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(10_000),

    KAFKA_BROKERS: list
      .pipe(z.array(z.string().regex(/^[^:]+:\d+$/, "host:port")).min(1))
      .default(["127.0.0.1:9092"]),
    KAFKA_CLIENT_ID: z.string().min(1).default("walletstream"),
    // How long a silent (crashed) group member keeps its partitions before the group moves them.
    KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).default(15_000),
    SCHEMA_REGISTRY_URL: z.url().default("http://127.0.0.1:8081/apis/ccompat/v7"),

    TOPIC_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9._-]*$/)
      .default(""),
    TOPIC_PARTITIONS: positiveInt.default(6),
    TOPIC_REPLICATION_FACTOR: positiveInt.default(1),
    GROUP_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9._-]*$/)
      .default(""),

    JWT_SECRET: z.string().min(32, "at least 32 characters").default(DEV_JWT_SECRET),
    JWT_ISSUER: z.string().min(1).default("walletstream"),
    JWT_TTL_SECONDS: positiveInt.default(3600),
    PASSWORD_MIN_LENGTH: positiveInt.default(8),
    // argon2id cost of new hashes; the defaults are OWASP's recommended minimum (19 MiB, 2 passes).
    PASSWORD_HASH_MEMORY_KIB: z.coerce.number().int().min(1024).max(4_194_304).default(19_456),
    PASSWORD_HASH_ITERATIONS: z.coerce.number().int().min(1).max(20).default(2),

    DEFAULT_CURRENCY: z
      .string()
      .regex(/^[A-Z]{3}$/, "an ISO 4217 code such as USD")
      .default("USD"),

    MONEY_MAX_AMOUNT: positiveInt.max(Number.MAX_SAFE_INTEGER).default(1_000_000_000_000),
    IDEMPOTENCY_TTL_HOURS: positiveInt.min(24, "keys are kept at least 24 h").default(48),

    OUTBOX_BATCH_SIZE: positiveInt.default(500),
    OUTBOX_POLL_INTERVAL_MS: positiveInt.default(1000),
    OUTBOX_COALESCE_MS: z.coerce.number().int().min(0).max(1000).default(3),
    OUTBOX_RETENTION_HOURS: positiveInt.default(72),

    // Default retry policy of processors: attempts (the first included), then delays initial × multiplier^n, capped.
    PROCESSOR_MAX_ATTEMPTS: positiveInt.default(4),
    PROCESSOR_RETRY_INITIAL_MS: positiveInt.default(1000),
    PROCESSOR_RETRY_MULTIPLIER: z.coerce.number().min(1).default(10),
    PROCESSOR_RETRY_MAX_MS: positiveInt.default(60_000),
    // Batched processing: most records of a partition applied in one transaction (a savepoint each). Up to 64
    // savepoints that write stay within PostgreSQL's per-transaction subtransaction cache.
    RUNNER_BATCH_MAX: positiveInt.max(10_000).default(64),
    // Partitions a processor member handles at the same time (each with its own transaction).
    RUNNER_CONCURRENCY: positiveInt.max(64).default(3),
    // Records with a larger value are dead-lettered (record_too_large) without being decoded.
    RUNNER_MAX_RECORD_BYTES: positiveInt.default(512 * 1024),

    // Outgoing email (processors/email.ts). The local stack runs a development SMTP server on this port.
    SMTP_HOST: z.string().min(1).default("127.0.0.1"),
    SMTP_PORT: port.default(2525),
    SMTP_FROM: z.string().min(3).default("walletstream <no-reply@walletstream.local>"),
    SMTP_SECURE: bool.default(false),
    SMTP_USER: z.string().optional(),
    SMTP_PASSWORD: z.string().optional(),
    // SMTP outages last longer than a database hiccup: more attempts, longer backoff.
    EMAIL_MAX_ATTEMPTS: positiveInt.default(6),
    EMAIL_RETRY_INITIAL_MS: positiveInt.default(1000),
    EMAIL_RETRY_MAX_MS: positiveInt.default(60_000),

    SHUTDOWN_TIMEOUT_MS: positiveInt.default(15_000),
    // Processes without the API (processors, relay) serve /metrics on this port when set.
    METRICS_PORT: port.optional(),
    MIGRATE_ON_START: bool.default(true),

    // Local stack runner (infra/stack): where its state lives and what the URLs above do not say.
    STACK_DIR: z.string().min(1).default(".stack"),
    // auto: `npm start` starts the local stack when none of DATABASE_URL, KAFKA_BROKERS, SCHEMA_REGISTRY_URL is set.
    STACK_MODE: z.enum(["auto", "local", "external"]).default("auto"),
    KAFKA_CONTROLLER_PORT: port.default(9093),
    REGISTRY_MANAGEMENT_PORT: port.default(9001),
    STACK_JAVA_HOME: z.string().optional(),
    KAFKA_HEAP: z.string().default("-Xms256m -Xmx512m"),
    REGISTRY_HEAP: z.string().default("-Xms128m -Xmx384m"),
    STACK_READY_TIMEOUT_MS: positiveInt.default(180_000),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === "production" && env.JWT_SECRET === DEV_JWT_SECRET) {
      ctx.addIssue({ code: "custom", path: ["JWT_SECRET"], message: "must be set in production" });
    }
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  readonly env: Env["NODE_ENV"];
  readonly logLevel: Env["LOG_LEVEL"];
  readonly serviceName: string;
  readonly http: { readonly host: string; readonly port: number; readonly bodyLimitBytes: number };
  readonly db: { readonly url: string; readonly poolMax: number; readonly statementTimeoutMs: number };
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly sessionTimeoutMs: number;
    readonly topicPrefix: string;
    readonly groupPrefix: string;
    readonly partitions: number;
    readonly replicationFactor: number;
  };
  readonly registry: { readonly url: string };
  readonly auth: {
    readonly jwtSecret: string;
    readonly jwtIssuer: string;
    readonly jwtTtlSeconds: number;
    readonly passwordMinLength: number;
    readonly passwordHash: { readonly memoryKib: number; readonly iterations: number };
  };
  readonly wallet: { readonly defaultCurrency: string };
  readonly money: { readonly maxAmount: number; readonly idempotencyTtlHours: number };
  readonly outbox: {
    readonly batchSize: number;
    readonly pollIntervalMs: number;
    readonly coalesceMs: number;
    readonly retentionHours: number;
  };
  readonly processor: {
    readonly maxAttempts: number;
    readonly retryInitialMs: number;
    readonly retryMultiplier: number;
    readonly retryMaxMs: number;
    /** Most records applied in one transaction (batched processing). */
    readonly batchMax: number;
    /** Partitions handled at the same time by one member. */
    readonly concurrency: number;
    /** Records with a larger value go to the dead-letter topic undecoded (`record_too_large`). */
    readonly maxRecordBytes: number;
  };
  readonly smtp: {
    readonly host: string;
    readonly port: number;
    readonly from: string;
    readonly secure: boolean;
    readonly user: string | undefined;
    readonly password: string | undefined;
  };
  readonly email: {
    readonly maxAttempts: number;
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
  };
  readonly shutdownTimeoutMs: number;
  readonly metricsPort: number | undefined;
  readonly migrateOnStart: boolean;
  readonly stack: {
    readonly dir: string;
    readonly kafkaControllerPort: number;
    readonly registryManagementPort: number;
    readonly javaHome: string | undefined;
    readonly kafkaHeap: string;
    readonly registryHeap: string;
    readonly readyTimeoutMs: number;
    /** `npm start` brings the local stack up first (idempotent: running services are reused). */
    readonly autoStart: boolean;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Parses `env` (process.env by default) once. Throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, so `FOO= npm start` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const e = parsed.data;
  return deepFreeze({
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    serviceName: e.SERVICE_NAME,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES },
    db: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      topicPrefix: e.TOPIC_PREFIX,
      groupPrefix: e.GROUP_PREFIX,
      partitions: e.TOPIC_PARTITIONS,
      replicationFactor: e.TOPIC_REPLICATION_FACTOR,
    },
    registry: { url: e.SCHEMA_REGISTRY_URL },
    auth: {
      jwtSecret: e.JWT_SECRET,
      jwtIssuer: e.JWT_ISSUER,
      jwtTtlSeconds: e.JWT_TTL_SECONDS,
      passwordMinLength: e.PASSWORD_MIN_LENGTH,
      passwordHash: { memoryKib: e.PASSWORD_HASH_MEMORY_KIB, iterations: e.PASSWORD_HASH_ITERATIONS },
    },
    wallet: { defaultCurrency: e.DEFAULT_CURRENCY },
    money: { maxAmount: e.MONEY_MAX_AMOUNT, idempotencyTtlHours: e.IDEMPOTENCY_TTL_HOURS },
    outbox: {
      batchSize: e.OUTBOX_BATCH_SIZE,
      pollIntervalMs: e.OUTBOX_POLL_INTERVAL_MS,
      coalesceMs: e.OUTBOX_COALESCE_MS,
      retentionHours: e.OUTBOX_RETENTION_HOURS,
    },
    processor: {
      maxAttempts: e.PROCESSOR_MAX_ATTEMPTS,
      retryInitialMs: e.PROCESSOR_RETRY_INITIAL_MS,
      retryMultiplier: e.PROCESSOR_RETRY_MULTIPLIER,
      retryMaxMs: e.PROCESSOR_RETRY_MAX_MS,
      batchMax: e.RUNNER_BATCH_MAX,
      concurrency: e.RUNNER_CONCURRENCY,
      maxRecordBytes: e.RUNNER_MAX_RECORD_BYTES,
    },
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      from: e.SMTP_FROM,
      secure: e.SMTP_SECURE,
      user: e.SMTP_USER,
      password: e.SMTP_PASSWORD,
    },
    email: {
      maxAttempts: e.EMAIL_MAX_ATTEMPTS,
      retryInitialMs: e.EMAIL_RETRY_INITIAL_MS,
      retryMaxMs: e.EMAIL_RETRY_MAX_MS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    metricsPort: e.METRICS_PORT,
    migrateOnStart: e.MIGRATE_ON_START,
    stack: {
      dir: e.STACK_DIR,
      kafkaControllerPort: e.KAFKA_CONTROLLER_PORT,
      registryManagementPort: e.REGISTRY_MANAGEMENT_PORT,
      javaHome: e.STACK_JAVA_HOME,
      kafkaHeap: e.KAFKA_HEAP,
      registryHeap: e.REGISTRY_HEAP,
      readyTimeoutMs: e.STACK_READY_TIMEOUT_MS,
      autoStart:
        e.STACK_MODE === "local" ||
        (e.STACK_MODE === "auto" &&
          !cleaned.DATABASE_URL &&
          !cleaned.KAFKA_BROKERS &&
          !cleaned.SCHEMA_REGISTRY_URL),
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
