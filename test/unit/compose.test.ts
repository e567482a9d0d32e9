import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../infra/config.js";
import { SHARED_BROKER_SETTINGS } from "../../infra/stack/kafka.js";
import { stackVersions } from "../../infra/stack/layout.js";
import { processorCatalog } from "../../processors/index.js";

/** docker-compose.yml and the local runner must start the same stack: same versions, settings and ports. */
describe("docker-compose.yml matches the local runner", () => {
  const compose = parse(readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8"));
  const defaults = loadConfig({});
  const versions = stackVersions();

  it("uses the versions in infra/stack/pom.xml", () => {
    expect(compose.services.kafka.image).toBe(`apache/kafka:${versions.kafka}`);
    expect(compose.services.registry.image).toBe(`apicurio/apicurio-registry:${versions.apicurio}`);
  });

  it("sets every shared broker setting to the same value", () => {
    const env = compose.services.kafka.environment as Record<string, string>;
    for (const [key, value] of Object.entries(SHARED_BROKER_SETTINGS)) {
      const name = `KAFKA_${key.toUpperCase().replaceAll(".", "_")}`;
      expect(env[name], name).toBe(value);
    }
    expect(env.KAFKA_NUM_PARTITIONS).toBe(String(defaults.kafka.partitions));
  });

  it("runs every processor of the catalog as its own service", () => {
    for (const name of processorCatalog(defaults).keys()) {
      expect(compose.services[`${name}-processor`]?.command, name).toEqual([
        "npm",
        "run",
        "start:processor",
        "--",
        name,
      ]);
    }
  });

  it("publishes the same ports the local defaults use", () => {
    const hostPort = (service: string) => Number(String(compose.services[service].ports[0]).split(":")[0]);
    expect(hostPort("kafka")).toBe(Number(defaults.kafka.brokers[0]?.split(":")[1]));
    expect(hostPort("registry")).toBe(Number(new URL(defaults.registry.url).port));
    expect(hostPort("postgres")).toBe(Number(new URL(defaults.db.url).port));
    expect(hostPort("api")).toBe(defaults.http.port);
    expect(hostPort("smtp")).toBe(defaults.smtp.port);
    expect(compose.services.registry.environment.QUARKUS_MANAGEMENT_PORT).toBe(
      String(defaults.stack.registryManagementPort),
    );
  });
});
