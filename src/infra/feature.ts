import type { Router } from "express";
import type { AppSocket, EventRouter } from "./event-router.js";
import type { HandshakeStep } from "./handshake.js";

/**
 * What a module (auth, chat, presence, notifications, …) plugs into the app. The
 * composition root builds each one with plain typed dependencies and hands it here.
 */
export interface Feature {
  name: string;
  /** Register the feature's client events on the shared pipeline. */
  register?(router: EventRouter): void;
  /** Steps of the handshake (see HandshakeStep): a limit, authentication, an admission, a room. */
  handshake?: readonly HandshakeStep[];
  /**
   * Called synchronously on every authenticated connection, after the event router is
   * attached. Async work must not delay listener registration (see PITFALLS).
   */
  onConnection?(socket: AppSocket): void;
  /**
   * The socket is leaving and still in its rooms (Socket.IO's `disconnecting`). The app
   * holds one shared listener per socket for all features: no closure per feature.
   */
  onDisconnecting?(socket: AppSocket): void;
  /** The socket is gone (Socket.IO's `disconnect`). */
  onDisconnect?(socket: AppSocket): void;
  /**
   * `auth:refresh` replaced the socket's user: same id, but roles and rooms may differ.
   * Resolves with the rooms the socket left because the new claims no longer grant them
   * (they reach the client in the refresh's ack).
   */
  onUserChanged?(socket: AppSocket): Promise<string[]>;
  /** Routes mounted on the HTTP app (internal API, demo). */
  httpRouter?: Router;
  start?(): Promise<void>;
  /** Graceful shutdown, before sockets are closed and Redis is disconnected; bounded by the grace. */
  stop?(): Promise<void>;
  /** Once every socket is closed, at the end of shutdown: timers that act on live sockets end here. */
  close?(): void;
}
