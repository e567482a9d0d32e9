import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Finds a `java` of at least `minMajor`. Kafka 4 needs 17; Apicurio 3.3 is built for 21.
 * Looks at STACK_JAVA_HOME, then JAVA_HOME, then every JDK under /usr/lib/jvm (newest first).
 */
export function findJava(minMajor: number, preferredHome?: string): string {
  const candidates = [preferredHome, process.env.JAVA_HOME, ...jvmDirs()].filter((h): h is string => !!h);
  for (const home of candidates) {
    const bin = join(home, "bin", "java");
    const major = javaMajor(home);
    if (existsSync(bin) && major !== undefined && major >= minMajor) return bin;
  }
  throw new Error(
    `no Java ${minMajor}+ found (looked at ${candidates.join(", ") || "nothing"}); set STACK_JAVA_HOME to a JDK ${minMajor}+`,
  );
}

function jvmDirs(): string[] {
  const base = "/usr/lib/jvm";
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .map((d) => join(base, d))
    .sort((a, b) => (javaMajor(b) ?? 0) - (javaMajor(a) ?? 0));
}

function javaMajor(home: string): number | undefined {
  try {
    const release = readFileSync(join(home, "release"), "utf8");
    const m = /JAVA_VERSION="(\d+)/.exec(release);
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
