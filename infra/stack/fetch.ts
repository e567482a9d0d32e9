import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { POM, type StackLayout, stackVersions } from "./layout.js";

const run = promisify(execFile);

/**
 * Brings the Kafka jars and the Apicurio registry from Maven Central with Maven (the pom beside this file).
 * Idempotent: a marker file records the versions fetched, so a second run does nothing.
 */
export async function fetchStack(layout: StackLayout, log: (msg: string) => void): Promise<void> {
  const versions = stackVersions();
  const marker = join(layout.root, "fetched.json");
  const wanted = JSON.stringify(versions);
  if (existsSync(marker) && readFileSync(marker, "utf8") === wanted && existsSync(layout.registryApp)) {
    return;
  }
  log(
    `fetching Kafka ${versions.kafka} and Apicurio Registry ${versions.apicurio} from Maven Central (mvn)…`,
  );
  rmSync(layout.kafkaLibs, { recursive: true, force: true });
  rmSync(layout.registryApp, { recursive: true, force: true });
  mkdirSync(layout.registryApp, { recursive: true });
  await run(
    "mvn",
    [
      "-q",
      "-B",
      "-f",
      POM,
      "dependency:copy-dependencies@kafka",
      "dependency:copy@apicurio",
      `-Dstack.dir=${layout.root}`,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`mvn failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  });
  const archive = join(layout.downloads, `apicurio-registry-app-${versions.apicurio}-all.tar.gz`);
  log("unpacking the registry…");
  await run("tar", ["-xzf", archive, "-C", layout.registryApp]);
  writeFileSync(marker, wanted);
}
