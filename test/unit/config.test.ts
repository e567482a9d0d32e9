import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../infra/config.js";

describe("loadConfig", () => {
  it("defaults point at the local stack", () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(["127.0.0.1:9092"]);
    expect(c.registry.url).toBe("http://127.0.0.1:8081/apis/ccompat/v7");
    expect(c.db.url).toBe("postgres://postgres@127.0.0.1:5432/walletstream");
    expect(c.http.port).toBe(3000);
    expect(c.stack.autoStart).toBe(true);
    expect(Object.isFrozen(c) && Object.isFrozen(c.kafka)).toBe(true);
  });

  it("parses lists and numbers, and treats empty strings as unset", () => {
    const c = loadConfig({ KAFKA_BROKERS: "a:1, b:2", HTTP_PORT: "8080", TOPIC_PARTITIONS: "" });
    expect(c.kafka.brokers).toEqual(["a:1", "b:2"]);
    expect(c.http.port).toBe(8080);
    expect(c.kafka.partitions).toBe(6);
  });

  it("fails naming every bad variable", () => {
    let error: unknown;
    try {
      loadConfig({ HTTP_PORT: "http", KAFKA_BROKERS: "nohostport", DEFAULT_CURRENCY: "usd" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).message;
    expect(text).toMatch(/HTTP_PORT/);
    expect(text).toMatch(/KAFKA_BROKERS/);
    expect(text).toMatch(/DEFAULT_CURRENCY/);
    expect((error as ConfigError).problems).toHaveLength(3);
  });

  it("refuses the development JWT secret in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/JWT_SECRET: must be set in production/);
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "x".repeat(40) }).env).toBe("production");
  });

  it("does not start the local stack when an external service is configured", () => {
    expect(loadConfig({ KAFKA_BROKERS: "kafka:9092" }).stack.autoStart).toBe(false);
    expect(loadConfig({ STACK_MODE: "external" }).stack.autoStart).toBe(false);
    expect(loadConfig({ STACK_MODE: "local", KAFKA_BROKERS: "127.0.0.1:9092" }).stack.autoStart).toBe(true);
  });
});
