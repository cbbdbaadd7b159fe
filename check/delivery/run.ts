import { ClientLink } from "./client-link.js";
import { CHECK_KEY_PREFIX, Cluster } from "./cluster.js";
import { type FaultKind, FaultRunner, planFaults } from "./faults.js";
import { type Inbox, readInbox } from "./inbox.js";
import { Notifier } from "./notifier.js";
import type { CheckOptions, Size } from "./options.js";
import { Random } from "./random.js";
import { RawReceiver } from "./raw-receiver.js";
import { SdkReceiver } from "./sdk-receiver.js";
import { Sender } from "./sender.js";
import { type RoomLog, readRoomLog } from "./stream.js";
import { type Violation, verifyNotifications, verifyStorage, verifyViews } from "./verify.js";
import type { ReceiverRecord } from "./view.js";
import { sleep } from "./wire.js";

export const INSTANCES = 3;
/** A send or a notification is retried for this long before the checker gives up on it. */
const SEND_DEADLINE_MS = 30_000;
const NOTIFY_DEADLINE_MS = 45_000;
/**
 * Retries of notifications end this long after the traffic. The first fault is a kill, so
 * its notifications have the whole run: long enough to outlive a 30 s claim on a key.
 */
const NOTIFY_AFTER_END_MS = 10_000;
const JOIN_DEADLINE_MS = 30_000;

export interface CheckReport {
  seed: number;
  size: Size;
  faultsEnabled: FaultKind[];
  rooms: number;
  messages: { sent: number; acked: number; attempts: number; stored: number; storedUnacked: number };
  deliveries: { raw: number; sdk: number };
  receivers: { raw: number; sdk: number };
  reconnects: { raw: number; sdk: number; senders: number };
  announcedGaps: number;
  announcedSkipped: number;
  notRecovered: number;
  oldEpoch: number;
  notifications: { publishes: number; acked: number; attempts: number; unavailable: number; items: number };
  faults: Record<FaultKind, number>;
  journal: string[];
  violations: Violation[];
  wallSec: number;
}

/** The instances' settings for the run: limits out of the traffic's way, every message retained. */
function instanceEnv(size: Size): Record<string, string> {
  const expected = (size.senders * size.durationSec * 1000) / size.sendIntervalMs;
  return {
    LOG_LEVEL: "info",
    RATE_CHAT_SEND_PER_SEC: "1000",
    RATE_CHAT_SEND_BURST: "2000",
    RATE_CHAT_JOIN_PER_SEC: "1000",
    RATE_INTERNAL_API_PER_SEC: "100000",
    MAX_CONNECTIONS_PER_USER: "100",
    // The verification reads the whole log: nothing may be trimmed.
    CHAT_HISTORY_LIMIT: String(Math.min(1_000_000, Math.max(10_000, Math.ceil(expected * 4)))),
    NOTIFICATION_LIMIT: "100000",
  };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

interface Participants {
  links: ClientLink[];
  raws: RawReceiver[];
  sdks: SdkReceiver[];
  senders: Sender[];
}

async function openParticipants(
  cluster: Cluster,
  size: Size,
  rooms: string[],
  random: Random,
): Promise<Participants> {
  const p: Participants = { links: [], raws: [], sdks: [], senders: [] };
  const link = async (name: string) => {
    const l = await new ClientLink(cluster, random.fork(`route:${name}`)).start();
    p.links.push(l);
    return l;
  };
  for (let i = 1; i <= size.rawReceivers; i++)
    p.raws.push(await RawReceiver.open(`raw${i}`, `raw${i}`, rooms, await link(`raw${i}`)));
  for (let i = 1; i <= size.sdkReceivers; i++)
    p.sdks.push(await SdkReceiver.open(`sdk${i}`, `sdk${i}`, rooms, await link(`sdk${i}`)));
  for (let i = 1; i <= size.senders; i++)
    p.senders.push(await Sender.open(`send${i}`, rooms, await link(`send${i}`), random.fork(`send${i}`)));
  return p;
}

async function closeParticipants(p: Participants): Promise<void> {
  for (const r of [...p.raws, ...p.sdks, ...p.senders]) r.close();
  await Promise.all(p.links.map((l) => l.stop()));
}

/**
 * One run: the cluster, the clients, traffic under the fault schedule, then a quiet end in
 * which every receiver gets the chance to reach the end of every room, then the
 * comparison of everything recorded with what Redis holds.
 */
export async function runDeliveryCheck(
  options: CheckOptions,
  log: (line: string) => void,
): Promise<CheckReport> {
  const began = Date.now();
  const { size, seed } = options;
  const random = new Random(seed);
  const rooms = Array.from({ length: size.rooms }, (_, i) => `check:room${i + 1}`);
  log(
    `seed ${seed}, size ${size.name}, ${size.durationSec} s of traffic, faults: ${options.faults.join(", ") || "none"}`,
  );
  const cluster = await Cluster.start({ instances: INSTANCES, env: instanceEnv(size) });
  options.signal?.addEventListener("abort", () => void cluster.stop(), { once: true });
  let participants: Participants | undefined;
  try {
    participants = await openParticipants(cluster, size, rooms, random);
    const { raws, sdks, senders, links } = participants;
    const everyone = [...raws, ...sdks, ...senders];
    if (!(await until(() => everyone.every((c) => c.joined), JOIN_DEADLINE_MS)))
      throw new Error(`not every client joined: ${everyone.filter((c) => !c.joined).map((c) => c.name)}`);
    log(`${INSTANCES} instances up, ${everyone.length} clients joined ${rooms.length} rooms`);

    const startedAt = Date.now() + 200;
    const endsAt = startedAt + size.durationSec * 1000;
    const notifier = new Notifier(
      cluster,
      [...raws, ...sdks].map((r) => r.userId),
      random.fork("notify"),
      `k${seed}`,
      NOTIFY_DEADLINE_MS,
      endsAt + NOTIFY_AFTER_END_MS,
    );
    const faults = new FaultRunner(
      {
        cluster,
        receivers: [...raws, ...sdks].map((r) => r.clientLink),
        clients: links,
        notifier,
        killBurst: size.killBurst,
      },
      random.fork("cuts"),
    );
    const plan = planFaults(
      random.fork("plan"),
      options.faults,
      size.durationSec * 1000,
      size.faultGapMs,
      INSTANCES,
    );

    await sleep(startedAt - Date.now());
    for (const s of senders) s.start(size.sendIntervalMs, SEND_DEADLINE_MS);
    if (options.faults.includes("client-cut")) faults.startClientCuts(size.clientCutEveryMs);
    const notifying = (async () => {
      const pace = random.fork("notify-pace");
      while (Date.now() < endsAt) {
        notifier.publish();
        await sleep(Math.round(size.notifyEveryMs * (0.5 + pace.next())));
      }
    })();
    const schedule = faults.runPlan(plan, startedAt, () => Date.now() >= endsAt);
    await sleep(endsAt - Date.now());
    await schedule;
    await faults.heal();
    await notifying;
    log("traffic over, faults healed; waiting for outstanding sends and notifications");
    await Promise.all(senders.map((s) => s.stop()));
    await notifier.settle();

    const logs = await readLogs(cluster, rooms);
    const caughtUp = await until(() => reachedEnd([...raws, ...sdks], logs), size.settleMs);
    if (!caughtUp) log(`not every receiver reached the end of every room within ${size.settleMs} ms`);
    const finalLogs = await readLogs(cluster, rooms);
    const inboxes = await readInboxes(
      cluster,
      notifier.publishes.flatMap((p) => p.userIds),
    );

    const sent = senders.flatMap((s) => [...s.sent.values()]);
    const storage = verifyStorage([...finalLogs.values()], sent);
    const rawViews = verifyViews(
      finalLogs,
      raws.map((r) => r.record),
    );
    const sdkViews = verifyViews(
      finalLogs,
      sdks.map((r) => r.record),
    );
    const records: ReceiverRecord[] = [...raws, ...sdks].map((r) => r.record);
    return {
      seed,
      size,
      faultsEnabled: options.faults,
      rooms: rooms.length,
      messages: {
        sent: sent.length,
        acked: sent.filter((s) => s.acked).length,
        attempts: sent.reduce((n, s) => n + s.attempts, 0),
        stored: [...finalLogs.values()].reduce((n, l) => n + l.messages.length, 0),
        storedUnacked: storage.storedUnacked,
      },
      deliveries: { raw: rawViews.deliveries, sdk: sdkViews.deliveries },
      receivers: { raw: raws.length, sdk: sdks.length },
      reconnects: {
        raw: raws.reduce((n, r) => n + r.record.reconnects, 0),
        sdk: sdks.reduce((n, r) => n + r.record.reconnects, 0),
        senders: senders.reduce((n, s) => n + s.reconnects, 0),
      },
      announcedGaps: rawViews.announcedGaps + sdkViews.announcedGaps,
      announcedSkipped: rawViews.announcedSkipped + sdkViews.announcedSkipped,
      notRecovered: records.reduce((n, r) => n + r.notRecovered, 0),
      oldEpoch: rawViews.oldEpoch + sdkViews.oldEpoch,
      notifications: {
        publishes: notifier.publishes.length,
        acked: notifier.publishes.filter((p) => p.acked).length,
        attempts: notifier.publishes.reduce((n, p) => n + p.attempts, 0),
        unavailable: notifier.publishes.reduce((n, p) => n + p.statuses.filter((s) => s === 503).length, 0),
        items: [...inboxes.values()].reduce((n, i) => n + i.items.length, 0),
      },
      faults: faults.counts,
      journal: faults.journal,
      violations: [
        ...storage.violations,
        ...rawViews.violations,
        ...sdkViews.violations,
        ...verifyNotifications(notifier.publishes, inboxes),
      ],
      wallSec: Math.round((Date.now() - began) / 1000),
    };
  } finally {
    if (participants) await closeParticipants(participants);
    await cluster.stop();
  }
}

async function readLogs(cluster: Cluster, rooms: string[]): Promise<Map<string, RoomLog>> {
  const logs = await Promise.all(rooms.map((roomId) => readRoomLog(cluster.admin, CHECK_KEY_PREFIX, roomId)));
  return new Map(logs.map((l) => [l.roomId, l]));
}

/** Every receiver holds the last stored message of every room. */
function reachedEnd(receivers: { record: ReceiverRecord }[], logs: Map<string, RoomLog>): boolean {
  return receivers.every(({ record }) =>
    [...record.views.values()].every((view) => {
      const last = logs.get(view.roomId)?.messages.at(-1);
      return last === undefined || view.handed.has(last.id);
    }),
  );
}

async function readInboxes(cluster: Cluster, userIds: string[]): Promise<Map<string, Inbox>> {
  const url = (cluster.alive()[0] ?? cluster.instances[0])?.url as string;
  const inboxes = new Map<string, Inbox>();
  for (const userId of new Set(userIds)) inboxes.set(userId, await readInbox(url, userId));
  return inboxes;
}
