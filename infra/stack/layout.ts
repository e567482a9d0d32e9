import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.js";
import type { Daemon } from "./proc.js";

export const STACK_SOURCE_DIR = fileURLToPath(new URL(".", import.meta.url));
export const PROJECT_ROOT = resolve(STACK_SOURCE_DIR, "..", "..");
export const POM = join(STACK_SOURCE_DIR, "pom.xml");

/** Versions are written once, in infra/stack/pom.xml; everything else reads them from there. */
export function stackVersions(pom = readFileSync(POM, "utf8")): { kafka: string; apicurio: string } {
  const prop = (name: string) => {
    const m = new RegExp(`<${name}>([^<]+)</${name}>`).exec(pom);
    if (!m?.[1]) throw new Error(`${POM} has no <${name}>`);
    return m[1].trim();
  };
  return { kafka: prop("kafka.version"), apicurio: prop("apicurio.version") };
}

/** Where every file of the local stack lives: one git-ignored state folder. */
export interface StackLayout {
  readonly root: string;
  readonly kafkaLibs: string;
  readonly kafkaData: string;
  readonly kafkaConfig: string;
  readonly downloads: string;
  readonly registryApp: string;
  readonly registryData: string;
  readonly pgData: string;
  /** Where the development SMTP server stores each received message as JSON (tests read it). */
  readonly smtpInbox: string;
  readonly kafka: Daemon;
  readonly registry: Daemon;
  readonly postgres: Daemon;
  readonly smtp: Daemon;
}

export function stackLayout(config: Config): StackLayout {
  const root = resolve(PROJECT_ROOT, config.stack.dir);
  const daemon = (name: string): Daemon => ({
    name,
    pidFile: join(root, "run", `${name}.pid`),
    logFile: join(root, "logs", `${name}.log`),
  });
  return {
    root,
    kafkaLibs: join(root, "kafka", "libs"),
    kafkaData: join(root, "kafka", "data"),
    kafkaConfig: join(root, "kafka", "server.properties"),
    downloads: join(root, "downloads"),
    registryApp: join(root, "registry", "app"),
    registryData: join(root, "registry", "data"),
    pgData: join(root, "postgres", "data"),
    smtpInbox: join(root, "smtp", "inbox"),
    kafka: daemon("kafka"),
    registry: daemon("registry"),
    postgres: daemon("postgres"),
    smtp: daemon("smtp"),
  };
}
