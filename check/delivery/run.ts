import { foldLog, verifyShown } from "./changes.js";
import { ClientLink } from "./client-link.js";
import { CHECK_KEY_PREFIX, Cluster } from "./cluster.js";
import { type FaultKind, FaultRunner, planFaults } from "./faults.js";
import { readHistories } from "./history.js";
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
import { sleep, type WireMessage } from "./wire.js";

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
  /** Edits, deletes and reactions among the requests: stored, answered "nothing to change", refused. */
  changes: {
    sent: number;
    stored: number;
    noop: number;
    refused: number;
    statesChecked: number;
    modelsChecked: number;
  };
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
    RATE_CHAT_EDIT_PER_SEC: "1000",
    RATE_CHAT_REACT_PER_SEC: "1000",
    // A change may target any message of the run.
    CHAT_EDIT_WINDOW_SEC: "0",
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

/** What the traffic phase leaves for the verification. */
interface Traffic {
  notifier: Notifier;
  faults: FaultRunner;
}

/** Senders, notifications, client cuts and the fault schedule for the size's duration; then every fault healed. */
async function driveTraffic(
  cluster: Cluster,
  p: Participants,
  options: CheckOptions,
  random: Random,
  log: (line: string) => void,
): Promise<Traffic> {
  const { size } = options;
  const startedAt = Date.now();
  const endsAt = startedAt + size.durationSec * 1000;
  const receivers = [...p.raws, ...p.sdks];
  const notifier = new Notifier(
    cluster,
    receivers.map((r) => r.userId),
    random.fork("notify"),
    `k${options.seed}`,
    NOTIFY_DEADLINE_MS,
    endsAt + NOTIFY_AFTER_END_MS,
  );
  const faults = new FaultRunner(
    {
      cluster,
      receivers: receivers.map((r) => r.clientLink),
      clients: p.links,
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

  for (const s of p.senders) {
    s.changeShare = size.changeShare;
    s.start(size.sendIntervalMs, SEND_DEADLINE_MS);
  }
  if (options.faults.includes("client-cut")) faults.startClientCuts(size.clientCutEveryMs);
  const notifying = (async () => {
    const pace = random.fork("notify-pace");
    while (Date.now() < endsAt) {
      notifier.publish();
      await sleep(Math.round(size.notifyEveryMs * (0.5 + pace.next())));
    }
  })();
  try {
    const schedule = faults.runPlan(plan, startedAt, () => Date.now() >= endsAt);
    await sleep(endsAt - Date.now());
    await schedule;
  } finally {
    await faults.heal();
  }
  await notifying;
  log("traffic over, faults healed; waiting for outstanding sends and notifications");
  await Promise.all(p.senders.map((s) => s.stop()));
  await notifier.settle();
  return { notifier, faults };
}

/** Waits (bounded) for every receiver to reach the end of every room; returns the rooms' logs then. */
async function quietEnd(
  cluster: Cluster,
  p: Participants,
  rooms: string[],
  settleMs: number,
  log: (line: string) => void,
): Promise<Map<string, RoomLog>> {
  const logs = await readLogs(cluster, rooms);
  if (!(await until(() => reachedEnd([...p.raws, ...p.sdks], logs), settleMs)))
    log(`not every receiver reached the end of every room within ${settleMs} ms`);
  return readLogs(cluster, rooms);
}

function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((n, item) => n + of(item), 0);
}

/** Compares what the run recorded with what Redis holds, and counts everything. */
function buildReport(
  options: CheckOptions,
  p: Participants,
  traffic: Traffic,
  logs: Map<string, RoomLog>,
  inboxes: Map<string, Inbox>,
  histories: Map<string, WireMessage[]>,
  began: number,
): CheckReport {
  const { notifier, faults } = traffic;
  const requests = p.senders.flatMap((s) => [...s.sent.values()]);
  const sent = requests.filter((s) => !s.change);
  const changes = requests.filter((s) => s.change);
  const folded = new Map([...logs].map(([roomId, log]) => [roomId, foldLog(log)]));
  const stateViolations = [...histories].flatMap(([roomId, shown]) =>
    verifyShown(`history ${roomId}`, folded.get(roomId) ?? new Map(), shown, "state-differs"),
  );
  let modelsChecked = 0;
  const modelViolations = p.sdks.flatMap((r) =>
    [...r.models()].flatMap(([roomId, shown]) => {
      modelsChecked += shown.length;
      return verifyShown(
        `${r.name} model ${roomId}`,
        folded.get(roomId) ?? new Map(),
        shown,
        "model-differs",
      ).map((v) => ({ ...v, receiver: "sdk" as const }));
    }),
  );
  const storage = verifyStorage([...logs.values()], requests);
  const rawViews = verifyViews(
    logs,
    p.raws.map((r) => r.record),
  );
  const sdkViews = verifyViews(
    logs,
    p.sdks.map((r) => r.record),
  );
  const records: ReceiverRecord[] = [...p.raws, ...p.sdks].map((r) => r.record);
  const publishes = notifier.publishes;
  return {
    seed: options.seed,
    size: options.size,
    faultsEnabled: options.faults,
    rooms: logs.size,
    messages: {
      sent: sent.length,
      acked: sent.filter((s) => s.acked).length,
      attempts: sum(sent, (s) => s.attempts),
      stored: sum([...logs.values()], (l) => l.messages.length),
      storedUnacked: storage.storedUnacked,
    },
    changes: {
      sent: changes.length,
      stored: changes.filter((c) => c.acked).length,
      noop: changes.filter((c) => c.noop).length,
      refused: changes.filter((c) => !c.acked && !c.noop).length,
      statesChecked: sum([...histories.values()], (h) => h.filter((m) => m.kind === undefined).length),
      modelsChecked,
    },
    deliveries: { raw: rawViews.deliveries, sdk: sdkViews.deliveries },
    receivers: { raw: p.raws.length, sdk: p.sdks.length },
    reconnects: {
      raw: sum(p.raws, (r) => r.record.reconnects),
      sdk: sum(p.sdks, (r) => r.record.reconnects),
      senders: sum(p.senders, (s) => s.reconnects),
    },
    announcedGaps: rawViews.announcedGaps + sdkViews.announcedGaps,
    announcedSkipped: rawViews.announcedSkipped + sdkViews.announcedSkipped,
    notRecovered: sum(records, (r) => r.notRecovered),
    oldEpoch: rawViews.oldEpoch + sdkViews.oldEpoch,
    notifications: {
      publishes: publishes.length,
      acked: publishes.filter((n) => n.acked).length,
      attempts: sum(publishes, (n) => n.attempts),
      unavailable: sum(publishes, (n) => n.statuses.filter((status) => status === 503).length),
      items: sum([...inboxes.values()], (i) => i.items.length),
    },
    faults: faults.counts,
    journal: faults.journal,
    violations: [
      ...storage.violations,
      ...rawViews.violations,
      ...sdkViews.violations,
      ...verifyNotifications(publishes, inboxes),
      ...stateViolations,
      ...modelViolations,
    ],
    wallSec: Math.round((Date.now() - began) / 1000),
  };
}

/**
 * One run: the cluster, the clients, traffic under the fault schedule, a quiet end in
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
  const faultList = options.faults.join(", ") || "none";
  log(`seed ${seed}, size ${size.name}, ${size.durationSec} s of traffic, faults: ${faultList}`);
  const cluster = await Cluster.start({ instances: INSTANCES, env: instanceEnv(size) });
  options.signal?.addEventListener("abort", () => void cluster.stop(), { once: true });
  let participants: Participants | undefined;
  try {
    participants = await openParticipants(cluster, size, rooms, random);
    const everyone = [...participants.raws, ...participants.sdks, ...participants.senders];
    if (!(await until(() => everyone.every((c) => c.joined), JOIN_DEADLINE_MS)))
      throw new Error(`not every client joined: ${everyone.filter((c) => !c.joined).map((c) => c.name)}`);
    log(`${INSTANCES} instances up, ${everyone.length} clients joined ${rooms.length} rooms`);
    const traffic = await driveTraffic(cluster, participants, options, random, log);
    const logs = await quietEnd(cluster, participants, rooms, size.settleMs, log);
    const inboxes = await readInboxes(
      cluster,
      traffic.notifier.publishes.flatMap((n) => n.userIds),
    );
    const url = (cluster.alive()[0] ?? cluster.instances[0])?.url as string;
    const histories = await readHistories(url, rooms);
    return buildReport(options, participants, traffic, logs, inboxes, histories, began);
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
