import { describe, expect, it } from "vitest";
import { freePort } from "../../infra/stack/proc.js";
import { eventually, http, testEnv } from "../support/harness.js";

const value = (text: string, series: RegExp): number => {
  const line = text.split("\n").find((l) => !l.startsWith("#") && series.test(l));
  return line ? Number(line.split(" ").pop()) : Number.NaN;
};

describe("Prometheus metrics", () => {
  it("the API serves HTTP, relay and outbox metrics; a processor process serves its own on METRICS_PORT", async () => {
    const port = await freePort();
    const env = await testEnv({ METRICS_PORT: String(port) });
    const ingress = await env.start({ api: true, relay: true });
    const processor = await env.start({ processors: ["wallet"] });
    const api = http(ingress.apiUrl as string);
    expect((await api.register("metrics@example.com")).status).toBe(201);
    expect((await api.register("metrics@example.com")).status).toBe(409);

    const group = processor.names.group("wallet-service");
    const procMetrics = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return value(
        text,
        new RegExp(`walletstream_processor_events_total\\{.*group="${group}".*outcome="processed"`),
      ) === 1
        ? text
        : undefined;
    }, 20_000);
    expect(procMetrics).toMatch(/walletstream_processor_handler_duration_seconds_count\{[^}]*\} 1/);
    expect(procMetrics).toMatch(/process_resident_memory_bytes/);

    const res = await fetch(`${ingress.apiUrl}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(value(text, /walletstream_http_requests_total\{.*route="\/v1\/users".*status="201"/)).toBe(1);
    expect(value(text, /walletstream_http_requests_total\{.*route="\/v1\/users".*status="409"/)).toBe(1);
    expect(text).toMatch(/walletstream_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/users"/);
    expect(value(text, /^walletstream_relay_published_total/)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/walletstream_relay_commit_to_ack_seconds_count/);
    await eventually(async () => {
      const t = await (await fetch(`${ingress.apiUrl}/metrics`)).text();
      return value(t, /^walletstream_outbox_backlog/) === 0;
    });
  });
});
