import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A background service the runner started: its pid lives in a file so `down` stops only what `up` started. */
export interface Daemon {
  readonly name: string;
  readonly pidFile: string;
  readonly logFile: string;
}

export function readPid(d: Daemon): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(d.pidFile, "utf8").trim(), 10);
    return Number.isInteger(pid) && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Starts `cmd` detached from this process (it outlives the CLI), output appended to the daemon's log file. */
export function spawnDaemon(
  d: Daemon,
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): number {
  mkdirSync(dirname(d.logFile), { recursive: true });
  mkdirSync(dirname(d.pidFile), { recursive: true });
  const out = openSync(d.logFile, "a");
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ["ignore", out, out],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  if (child.pid === undefined) throw new Error(`could not start ${d.name} (${cmd})`);
  child.unref();
  writeFileSync(d.pidFile, String(child.pid));
  return child.pid;
}

/** `signal` (SIGTERM by default), then SIGKILL after `graceMs`. Returns true when a process was stopped. */
export async function stopDaemon(
  d: Daemon,
  opts: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<boolean> {
  const pid = readPid(d);
  rmSync(d.pidFile, { force: true });
  if (pid === undefined) return false;
  const graceMs = opts.graceMs ?? 30_000;
  process.kill(pid, opts.signal ?? "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
  while (isAlive(pid)) await sleep(100);
  return true;
}

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Polls `probe` until it resolves true, calling `onWait` every few seconds so long start-ups show progress.
 * Fails early when the daemon it waits for has died, pointing at its log.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; daemon?: Daemon; onWait?: (elapsedMs: number) => void },
): Promise<void> {
  const started = Date.now();
  let lastReport = started;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const now = Date.now();
    if (opts.daemon && readPid(opts.daemon) === undefined) {
      throw new Error(`${what} exited during start-up; see ${opts.daemon.logFile}`);
    }
    if (now - started > opts.timeoutMs) {
      throw new Error(
        `${what} not ready after ${opts.timeoutMs} ms${opts.daemon ? `; see ${opts.daemon.logFile}` : ""}`,
      );
    }
    if (now - lastReport >= 5000) {
      lastReport = now;
      opts.onWait?.(now - started);
    }
    await sleep(250);
  }
}

/**
 * A lock file holding this process's pid: waits while another live process holds it, takes it over when its
 * holder is dead. Returns the release function.
 */
export async function exclusive(path: string, timeoutMs: number): Promise<() => void> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const content = readFileSync(path, "utf8").trim();
      const holder = Number.parseInt(content, 10);
      // Empty: its holder is between creating and writing it. A pid that no longer runs: a crashed holder.
      if (content !== "" && (!Number.isInteger(holder) || !isAlive(holder))) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is held by process ${holder}`);
      await sleep(250);
    }
  }
}

/** A TCP port free on the loopback right now (tests and benchmarks start services on it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!addr || typeof addr === "string") throw new Error("no free port");
  return addr.port;
}
