// `npm run ops -- <command>`: operating walletstream. `npm run ops -- --help` lists the commands.
import { createInterface } from "node:readline/promises";
import { Command, Option } from "commander";
import { loadConfig } from "../infra/config.js";
import { createPool } from "../infra/db/pool.js";
import { createKafkaBus } from "../infra/kafka/index.js";
import { createLogger } from "../infra/log.js";
import { EventCodec } from "../infra/registry.js";
import { topicNames } from "../infra/topics.js";
import { type DeadLetter, DeadLetters } from "../processors/dead-letters.js";
import { processorCatalog } from "../processors/index.js";
import { GroupOperations, type ReplayTarget } from "../processors/operations.js";

const config = loadConfig();
const log = createLogger({ level: process.env.LOG_LEVEL ?? "warn", service: "ops" });
const pool = createPool(config, { max: 2, applicationName: "ops" });
const bus = createKafkaBus({ brokers: config.kafka.brokers, clientId: "walletstream-ops", log });
const names = topicNames(config);
const letters = new DeadLetters({
  bus,
  codec: new EventCodec(config.registry.url, names),
  names,
  pool,
  topicPrefix: config.kafka.topicPrefix,
});

const catalog = processorCatalog(config);
const groups = new GroupOperations({ bus, pool, names });
const processorNamed = (name: string) => {
  const p = catalog.get(name);
  if (!p) throw new Error(`unknown processor "${name}"; known: ${[...catalog.keys()].join(", ")}`);
  return p;
};

/** Destructive actions ask first; without a terminal they need --yes. */
async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    console.error("refusing without --yes (no terminal to ask)");
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

const row = (d: DeadLetter) => ({
  at: `${d.partition}:${d.offset}`,
  status: d.status,
  key: d.key,
  type: "type" in d.event ? d.event.type : "(undecodable)",
  from: `${d.failure.originalTopic}@${d.failure.originalPartition}:${d.failure.originalOffset}`,
  attempt: d.failure.attempt,
  error: `${d.failure.errorClass}: ${(d.failure.errorMessage ?? "").slice(0, 60)}`,
  deadLetteredAt: d.failure.deadLetteredAt,
});

const program = new Command("ops").description("walletstream operations").showHelpAfterError();
const dlq = program.command("dlq").description("dead-letter topics: list, show, redrive, purge");

dlq
  .command("list")
  .description("dead letters per topic (pending only unless --all)")
  .argument("[topic]", "one dead-letter topic; default: every <topic>.<group>.dlq")
  .option("--all", "include redriven and purged ones")
  .action(async (topic: string | undefined, opts: { all?: boolean }) => {
    for (const t of topic ? [topic] : await letters.topics()) {
      const list = (await letters.list(t)).filter((d) => opts.all || d.status === "pending");
      console.log(`\n${t}: ${list.length} ${opts.all ? "" : "pending "}dead letter(s)`);
      if (list.length) console.table(list.map(row));
    }
  });

dlq
  .command("show")
  .description("one dead letter in full: failure headers and decoded payload")
  .argument("<topic>")
  .argument("<at>", "partition:offset")
  .action(async (topic: string, at: string) => {
    const d = (await letters.list(topic)).find((x) => `${x.partition}:${x.offset}` === at);
    if (!d) throw new Error(`no record ${at} in ${topic}`);
    const { record: _bytes, ...rest } = d;
    console.log(JSON.stringify(rest, null, 2));
  });

dlq
  .command("redrive")
  .description("republish dead letters: to the group's first retry topic (default) or the main topic")
  .argument("<topic>")
  .option("--at <partition:offset...>", "the records to redrive")
  .option("--all", "every pending record of the topic")
  .addOption(new Option("--to <target>", "where to").choices(["retry", "main"]).default("retry"))
  .option("--dry-run", "show what would be redriven")
  .option("--yes", "do not ask")
  .action(
    async (
      topic: string,
      opts: { at?: string[]; all?: boolean; to: "retry" | "main"; dryRun?: boolean; yes?: boolean },
    ) => {
      if (!opts.all && !opts.at?.length) throw new Error("give --at <partition:offset> … or --all");
      const select = (d: DeadLetter) =>
        opts.all === true || (opts.at ?? []).includes(`${d.partition}:${d.offset}`);
      const plan = await letters.redrive(topic, select, { to: opts.to, dryRun: true });
      console.table(plan.map((p) => ({ ...row(p.letter), target: p.target })));
      if (plan.length === 0) return console.log("nothing to redrive");
      if (opts.dryRun) return console.log(`dry run: ${plan.length} record(s) would be redriven`);
      if (!(await confirm(`redrive ${plan.length} record(s)?`, opts.yes === true))) return;
      const done = await letters.redrive(topic, select, { to: opts.to, dryRun: false });
      console.log(`redriven: ${done.length}`);
    },
  );

dlq
  .command("purge")
  .description("delete every record of a dead-letter topic")
  .argument("<topic>")
  .option("--dry-run", "show what would be deleted")
  .option("--yes", "do not ask")
  .action(async (topic: string, opts: { dryRun?: boolean; yes?: boolean }) => {
    const list = await letters.purge(topic, { dryRun: true });
    console.log(
      `${topic}: ${list.length} record(s), ${list.filter((d) => d.status === "pending").length} pending`,
    );
    if (opts.dryRun || list.length === 0) return;
    if (!(await confirm(`delete all ${list.length} record(s) of ${topic}?`, opts.yes === true))) return;
    await letters.purge(topic, { dryRun: false });
    console.log("purged");
  });

program
  .command("lag")
  .description("per group and partition: committed offset, end offset, lag, oldest unprocessed record")
  .argument("[processor]", "one processor; default: all")
  .option("--retry", "include the retry topics")
  .action(async (name: string | undefined, opts: { retry?: boolean }) => {
    for (const p of name ? [processorNamed(name)] : [...catalog.values()]) {
      const rows = await groups.lag(p, { includeRetry: opts.retry === true });
      const total = rows.reduce((n, r) => n + r.lag, 0);
      console.log(`
${names.group(p.group)} (${p.name}): total lag ${total}`);
      // With the retry topics, a group column: their offsets are those of `<group>.retry`.
      console.table(opts.retry ? rows : rows.map(({ group: _g, ...r }) => r));
    }
  });

program
  .command("replay")
  .description("rewind a processor's consumer group (refused while it has live members)")
  .argument("<processor>")
  .option("--topic <topic...>", "only these topics (default: all its main topics)")
  .option("--earliest", "from the earliest offset")
  .option("--from-time <iso>", "from the first record at or after this time")
  .option("--offsets <partition:offset...>", "from these offsets")
  .option("--dry-run", "show the plan only")
  .option("--yes", "do not ask")
  .action(
    async (
      name: string,
      opts: {
        topic?: string[];
        earliest?: boolean;
        fromTime?: string;
        offsets?: string[];
        dryRun?: boolean;
        yes?: boolean;
      },
    ) => {
      const p = processorNamed(name);
      let target: ReplayTarget;
      if (opts.earliest) target = { earliest: true };
      else if (opts.fromTime) {
        const ts = Date.parse(opts.fromTime);
        if (Number.isNaN(ts)) throw new Error(`--from-time: not a date: ${opts.fromTime}`);
        target = { timestamp: ts };
      } else if (opts.offsets?.length) {
        target = {
          offsets: new Map(
            opts.offsets.map((o) => {
              const [part, off] = o.split(":");
              if (!/^\d+$/.test(part ?? "") || !/^\d+$/.test(off ?? ""))
                throw new Error(`--offsets: ${o} is not partition:offset`);
              return [Number(part), off as string];
            }),
          ),
        };
      } else throw new Error("give --earliest, --from-time <iso> or --offsets <partition:offset …>");
      const topics = opts.topic ?? groups.topicsOf(p).main;
      const plan = await groups.planReplay(p, topics, target);
      console.table(plan);
      const records = plan.reduce((n, s) => n + s.records, 0);
      console.log(
        `${names.group(p.group)}: ${records} record(s) to read again; already applied events have no second effect`,
      );
      if (opts.dryRun) return;
      if (!(await confirm("rewind the group?", opts.yes === true))) return;
      await groups.replay(p, plan);
      console.log("offsets moved; start the processor to replay");
    },
  );

program
  .command("rebuild")
  .description(
    "drop a projection (e.g. notifications) and replay its topics into it from the earliest offset",
  )
  .argument("<processor>")
  .option("--yes", "do not ask")
  .action(async (name: string, opts: { yes?: boolean }) => {
    const p = processorNamed(name);
    if (!p.rebuild) throw new Error(`processor "${name}" is not a rebuildable projection`);
    const plan = await groups.planReplay(p, groups.topicsOf(p).main, { earliest: true });
    console.table(plan);
    if (
      !(await confirm(
        `drop ${name}'s projection and replay ${plan.reduce((n, s) => n + s.records, 0)} record(s)?`,
        opts.yes === true,
      ))
    )
      return;
    await groups.rebuild(p);
    console.log("projection dropped and offsets rewound; start the processor to rebuild");
  });

try {
  await program.parseAsync();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await pool.end();
}
