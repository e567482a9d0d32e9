import { join } from "node:path";
import type { Config } from "../config.js";
import type { StackLayout } from "./layout.js";
import { spawnDaemon } from "./proc.js";

export function registryListener(config: Config): { host: string; port: number; base: string } {
  const url = new URL(config.registry.url);
  return {
    host: url.hostname,
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    base: config.registry.url.replace(/\/$/, ""),
  };
}

/**
 * Apicurio Registry 3.3 (Quarkus) served through its Confluent-compatible API at /apis/ccompat/v7.
 * Storage is H2 in a file under the state folder, so schema ids survive restarts (messages on the topics
 * carry those ids: an in-memory registry would make old records undecodable after a restart).
 */
export function startRegistry(config: Config, layout: StackLayout, java: string): number {
  const { host, port } = registryListener(config);
  return spawnDaemon(
    layout.registry,
    java,
    [
      ...config.stack.registryHeap.split(/\s+/).filter(Boolean),
      "-Djava.awt.headless=true",
      `-Dquarkus.http.host=${host}`,
      `-Dquarkus.http.port=${port}`,
      `-Dquarkus.management.port=${config.stack.registryManagementPort}`,
      `-Dapicurio.datasource.url=jdbc:h2:file:${join(layout.registryData, "registry")}`,
      "-jar",
      join(layout.registryApp, "quarkus-run.jar"),
    ],
    { cwd: layout.registryApp },
  );
}

export async function registryReady(config: Config): Promise<boolean> {
  const res = await fetch(`${registryListener(config).base}/subjects`, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}
