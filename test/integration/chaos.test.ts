import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import type { ChaosResult } from "../chaos/report.js";

// The run restarts Kafka and stops the SMTP server: only when this test run's stack runner started them.
const owned = inject("ownedServices");
const ownsStack = owned.includes("kafka") && owned.includes("smtp");

describe.runIf(ownsStack)("chaos run, short form (npm run chaos -- --short --seed 42)", () => {
  it("every process killed once, Kafka restarted, PostgreSQL cut, SMTP down, extra members: every invariant holds", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "chaos-")), "result.json");
    // A child process, as an operator runs it: its services are processes of their own, and it cleans up after
    // itself whatever happens (SIGTERM included, which is what a timed-out test sends it below).
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/chaos/run.ts", "--short", "--seed", "42", "--out", out],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    onTestFinished(() => stop(child));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));

    const result = JSON.parse(readFileSync(out, "utf8")) as ChaosResult;
    expect(
      result.checks.filter((c) => !c.ok),
      output,
    ).toEqual([]);
    expect(code, output).toBe(0);
    expect(result.verdict).toBe("pass");
    expect(result.counts).toMatchObject({ lost: 0, duplicatedEffects: 0, deadLetters: 0 });
    expect(result.counts.accepted).toBeGreaterThan(50);
    // One fault of each kind took place, and every service was killed once.
    const done = result.faults.filter((f) => f.status === "done");
    expect(new Set(done.map((f) => f.kind))).toEqual(
      new Set(["kill", "kafka_restart", "db_block", "smtp_down", "scale_out"]),
    );
    expect(done.filter((f) => f.kind === "kill").map((f) => f.target)).toHaveLength(6);
  }, 150_000);
});

function stop(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  setTimeout(() => child.kill("SIGKILL"), 60_000).unref();
}
