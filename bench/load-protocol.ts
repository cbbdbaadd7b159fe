import type { HistogramJson } from "./histogram.js";

/** What the orchestrator asks a load worker to do, over the fork IPC channel. */
export type WorkerCommand =
  | {
      cmd: "connect";
      /** Socket i connects to urls[i % urls.length]. */
      urls: string[];
      count: number;
      /** Users are `${userPrefix}${i}`; each socket is its own user. */
      userPrefix: string;
      /** The baseline does not verify tokens and takes the user id from `auth.userId`. */
      sendUserId: boolean;
      secret: string;
      /** Handshakes in flight at once. */
      concurrency: number;
      timeoutMs: number;
    }
  | {
      cmd: "join";
      /** Socket i joins room `bench:r${floor(i / membersPerRoom)}`, for i < rooms × membersPerRoom. */
      rooms: number;
      membersPerRoom: number;
      concurrency: number;
    }
  | {
      cmd: "step";
      step: number;
      /** chat:send per second over all sockets, open loop. */
      ratePerSec: number;
      durationMs: number;
      /** Unacknowledged sends allowed at once; past it a due send is skipped and counted as throttled. */
      maxInFlight: number;
      drainTimeoutMs: number;
      textBytes: number;
    }
  | {
      cmd: "notify";
      url: string;
      apiKey: string;
      /** The service's internal API or the baseline's `/notify`. */
      path: string;
      batchSize: number;
      requests: number;
      concurrency: number;
      drainTimeoutMs: number;
    }
  | {
      cmd: "scaleConnect";
      /** Client k of this worker is user `${userPrefix}${firstUser + k}` and connects to urls[(firstUser + k) % urls.length]. */
      urls: string[];
      firstUser: number;
      count: number;
      userPrefix: string;
      sendUserId: boolean;
      secret: string;
      /** Source addresses, used in turn (`127.0.1.x`). */
      localAddresses: string[];
      /** The source ports this worker binds, [first, end): workers sharing an address get disjoint ranges. */
      ports: [number, number];
      concurrency: number;
      timeoutMs: number;
    }
  | {
      cmd: "failover";
      /** The instance just SIGKILLed: its clients reconnect, with the SDK's backoff, to the survivors. */
      killedUrl: string;
      survivors: string[];
      /** When it was killed (epoch ms): "back" is measured from here. */
      killedAt: number;
    }
  | {
      cmd: "route";
      /** The instances the load balancer sends new connections to now: the live ones whose /ready answers 200. */
      urls: string[];
    }
  | { cmd: "scaleStatus" }
  | { cmd: "close" };

export type WorkerRequest = WorkerCommand & { id: number };

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

export interface ConnectResult {
  requested: number;
  connected: number;
  failed: number;
  errors: string[];
  /** First handshake start to last CONNECT answer, token signing excluded. */
  elapsedMs: number;
  connectsPerSec: number;
  latency: HistogramJson;
  /** The load worker's own CPU over the ramp, % of one core. */
  loadCpuPercent: number;
}

export interface JoinResult {
  joined: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
}

export interface StepResult {
  step: number;
  ratePerSec: number;
  durationMs: number;
  membersPerRoom: number;
  /** Sends that were due at the offered rate. */
  offered: number;
  sent: number;
  /** Due, but skipped because maxInFlight sends were unacknowledged. */
  throttled: number;
  ackOk: number;
  ackErrors: Record<string, number>;
  /** Still unacknowledged when the drain timeout ran out. */
  ackMissing: number;
  delivered: number;
  /** sent × membersPerRoom: every member of the room, the sender included. */
  expected: number;
  lost: number;
  /** Deliveries of an earlier step that arrived during this one. */
  stray: number;
  /** Socket.IO sessions the server closed during the step. */
  disconnects: number;
  sentPerSec: number;
  ackedPerSec: number;
  /** Deliveries over the time from the first send to the last delivery. */
  deliveredPerSec: number;
  ack: HistogramJson;
  e2e: HistogramJson;
  loadCpuPercent: number;
}

export interface NotifyResult {
  requests: number;
  batchSize: number;
  httpOk: number;
  httpErrors: Record<string, number>;
  delivered: number;
  expected: number;
  lost: number;
  elapsedMs: number;
  requestsPerSec: number;
  deliveredPerSec: number;
  http: HistogramJson;
  e2e: HistogramJson;
  loadCpuPercent: number;
}

export interface ScaleConnectResult extends ConnectResult {
  /** Refusals during the ramp, by code (`UNAVAILABLE`, …) or transport error. */
  refusals: Record<string, number>;
}

export interface ScaleStatus {
  /** Clients with an open session now. */
  open: number;
  /** Clients of the killed instance. */
  killed: number;
  /** Of those, back on a survivor. */
  back: number;
  /** Of those not back: waiting for their next attempt, in one, or (never expected) open on the dead instance. */
  notBack: { waiting: number; connecting: number; open: number };
  /** A few of the clients not back, with their last error (diagnostics). */
  stuck: string[];
  /** From the kill to each one's new CONNECT answer. */
  backAfter: HistogramJson;
  /** The same, less the time each client chose to wait itself (its own backoff draws). */
  beyondBackoff: HistogramJson;
  /** Failed attempts while coming back, by refusal code or transport error. */
  refusals: Record<string, number>;
  /** The same by the instance attempted (its port), as `code@port` (diagnostics). */
  refusalsByTarget: Record<string, number>;
  attempts: number;
  /** Clients not of the killed instance that lost their session after the kill. */
  othersLost: number;
}
