// `npx tsx bench/profile-summary.ts <dir or .cpuprofile> [--results bench/results/transfers-….json] [--top 25]`
// Summarizes a V8 CPU profile of the API (npm run bench:transfers -- --profile): where the main thread's time
// went, by area (project file, package, Node internals, GC, idle) and by function, self and inclusive.
// With --results, only samples inside the measured API runs count (same monotonic clock as the profile).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { results: { type: "string" }, top: { type: "string", default: "25" } },
});
const target = positionals[0];
if (!target) {
  console.error("usage: tsx bench/profile-summary.ts <profile dir | file.cpuprofile> [--results run.json]");
  process.exit(2);
}
// The main thread's profile is the biggest file (the other one is tsx's module-loader worker).
const file = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(target, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]
  : target;
if (!file) throw new Error(`no .cpuprofile in ${target}`);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const windows: [number, number][] = values.results
  ? (
      JSON.parse(readFileSync(values.results, "utf8")) as {
        rounds: { api: { windowUs: [number, number] } }[];
      }
    ).rounds.map((r) => r.api.windowUs)
  : [];

const ROOT = process.cwd();
function area(f: CallFrame): string {
  const url = f.url;
  if (!url) return f.functionName.startsWith("(") ? f.functionName : "(native / V8 builtins)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `pkg ${pkg[1]}`;
  if (url.startsWith("node:"))
    return `node ${
      url
        .slice(5)
        .replace(/^internal\//, "")
        .split("/")[0]
    }`;
  return relative(ROOT, url.replace(/^file:\/\//, ""));
}
const label = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"} ${area(f).startsWith("(") ? "" : `${area(f)}:${f.lineNumber + 1}`}`.trim();

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node, counting only samples inside the windows (all samples without --results).
const self = new Map<number, number>();
let t = profile.startTime;
let total = 0;
profile.samples.forEach((id, i) => {
  t += profile.timeDeltas[i] ?? 0;
  if (windows.length && !windows.some(([a, b]) => t >= a && t <= b)) return;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});
const idle = [...self]
  .filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)")
  .reduce((a, [, v]) => a + v, 0);
const busy = total - idle;

const selfBy = (key: (f: CallFrame) => string) => {
  const m = new Map<string, number>();
  for (const [id, us] of self) {
    const f = (byId.get(id) as ProfileNode).callFrame;
    if (f.functionName !== "(idle)") m.set(key(f), (m.get(key(f)) ?? 0) + us);
  }
  return m;
};
// Inclusive: each sample counts once for every distinct function on its stack.
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  if (byId.get(id)?.callFrame.functionName === "(idle)") continue;
  const seen = new Set<string>();
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    const f = (byId.get(n) as ProfileNode).callFrame;
    if (!f.url) continue;
    const k = label(f);
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    seen.add(k);
  }
}

const top = Number(values.top);
const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
const print = (title: string, m: Map<string, number>, n = top) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${pct(us)}  ${k}`);
};
console.log(
  `${file}${windows.length ? ` — ${windows.length} measured API run(s) only` : " — whole process life"}`,
);
console.log(
  `profiled ${(total / 1e6).toFixed(1)} s: busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)} %), idle ${(idle / 1e6).toFixed(1)} s; percentages are of busy time`,
);
print("self time by area", selfBy(area), 20);
print("self time by function", selfBy(label));
print("inclusive time by JavaScript function (project code and packages)", inclusive, top + 15);
