import { type AdminOptions, createAdminFeature } from "./admin/index.js";
import type { SharedServices } from "./app.js";
import { createAccessHook } from "./chat/access-hook.js";
import { createHookMetrics, type HookName } from "./chat/hook-metrics.js";
import { createChatFeature } from "./chat/index.js";
import { createMentionNotifier, type MentionDeps } from "./chat/mentions.js";
import { createLeftNotice, createLocalDelivery, createRoomAnnouncer } from "./chat/socket-handlers.js";
import { createDemoFeature } from "./demo/index.js";
import type { Config } from "./infra/config.js";
import type { Feature } from "./infra/feature.js";
import { createInstancesFeature } from "./instances/index.js";
import { createInstanceRegistry } from "./instances/registry.js";
import { createInternalApiFeature, type InternalReads, type RoomMessages } from "./internal-api/index.js";
import { createSocketNotificationPublisher } from "./notifications/handlers.js";
import { createNotificationsFeature, type NotificationService } from "./notifications/index.js";
import { createPresenceBroadcaster, createPresenceFeature } from "./presence/index.js";
import type { PresenceService } from "./presence/service.js";
import type { PresenceStore } from "./presence/store.js";
import { createStores } from "./stores.js";
import { createDeadLetters, createWebhooksFeature, type DeadLetters } from "./webhooks/index.js";

/**
 * The feature modules the service runs, in start order (stopped in reverse), with their
 * dependencies on each other passed explicitly.
 */
export function buildFeatures(config: Config, shared: SharedServices): Feature[] {
  const build = featureBuilders(config, shared);
  const presence = build.presence();
  const notifications = build.notifications();
  const chat = build.chat({ presence: presence.service, notifications: notifications.service });
  const features: Feature[] = [
    presence,
    chat,
    notifications,
    build.internalApi({
      notifications: notifications.service,
      rooms: chat.service,
      reads: build.reads({ presence: presence.service, notifications: notifications.service }),
    }),
  ];
  const webhooks = build.webhooks();
  if (webhooks) features.push(webhooks);
  if (config.demo.enabled) features.push(build.demo({ notifications: notifications.service }));
  if (config.admin.enabled) features.push(build.admin(config.admin));
  // Last: it starts once the features that use it joined it, and stops heart-beating before they stop.
  features.push(build.instances());
  return features;
}

/**
 * Each feature from its slice of the configuration and only the collaborators it uses.
 * Tests build the features they need with these.
 */
export function featureBuilders(config: Config, shared: SharedServices) {
  const { instanceId, io, redis, rateLimiter, verifier, revocations, metrics, logger } = shared;
  const webhooks = config.webhooks;
  const stores = createStores(
    redis && { redis, keyPrefix: config.redis.keyPrefix, pubsubKind: shared.pubsubKind },
    webhooks.enabled ? { events: webhooks.events, deadLetterMax: webhooks.deadLetterMax } : undefined,
  );
  const deadLetters: DeadLetters | undefined = stores.outbox && createDeadLetters(stores.outbox);
  if (webhooks.enabled && !redis) {
    logger.warn(
      "webhooks without REDIS_URL: the outbox is in memory, events not yet delivered are lost on restart",
    );
  }
  const instanceStore = stores.instances();
  // Kept for the internal API's list of instances (their connection counts are presence's).
  let presenceStore: PresenceStore | undefined;
  // One per app: presence and chat hold their entries under its registration.
  const registry = createInstanceRegistry({
    store: instanceStore,
    instanceId,
    ttlMs: config.presence.ttlMs,
    logger,
  });
  // Registered once, and only when a hook is configured.
  let observeHook: ReturnType<typeof createHookMetrics> | undefined;
  const hookMetrics = (hook: HookName) => {
    observeHook ??= createHookMetrics(metrics.registry);
    return observeHook(hook);
  };
  const roomAccessHook = () => {
    const { url, key, timeoutMs, defaultTtlSec } = config.roomAccess;
    if (url === undefined || key === undefined) return undefined;
    return createAccessHook({
      call: { url, key, timeoutMs },
      defaultTtlSec,
      cache: stores.roomAccess(),
      logger,
      onCall: hookMetrics("room_access"),
    });
  };
  const messageHook = () => {
    const { url, key, timeoutMs, failure } = config.messageHook;
    if (url === undefined || key === undefined) return undefined;
    return { call: { url, key, timeoutMs }, failure, onCall: hookMetrics("moderation") };
  };
  return {
    /** The registry's heartbeats and sweeps, for every app that builds presence or chat. */
    instances: () => createInstancesFeature(registry),
    presence: () =>
      createPresenceFeature(
        { ...config.presence, maxConnectionsPerUser: config.socket.maxConnectionsPerUser },
        {
          store: (options) => {
            presenceStore = stores.presence(options);
            return presenceStore;
          },
          broadcaster: createPresenceBroadcaster(io),
          registry,
          rateLimiter,
          logger,
        },
      ),
    /** With presence and notifications, the offline users a message mentions get a notification. */
    chat: (services?: Pick<MentionDeps, "presence" | "notifications">) =>
      createChatFeature(config.chat, {
        ...(services ? { mentions: createMentionNotifier({ ...services, logger }) } : {}),
        stores: stores.chat,
        delivery: createLocalDelivery(io),
        announcer: createRoomAnnouncer(io),
        registry,
        rateLimiter,
        logger,
        onStored: () => metrics.messagesStored.inc(),
        access: {
          verifyRoomToken: (token) => verifier.verifyRoomToken(token),
          hook: roomAccessHook(),
          clockToleranceSec: config.jwt.clockToleranceSec,
        },
        leftNotice: createLeftNotice(io),
        moderation: messageHook(),
      }),
    notifications: () =>
      createNotificationsFeature(config.notifications, {
        store: stores.notifications,
        publisher: createSocketNotificationPublisher(io),
        rateLimiter,
        logger,
        published: metrics.notificationsPublished,
      }),
    /** Delivers the webhook outbox; undefined when WEBHOOK_URL is unset. */
    webhooks: () =>
      webhooks.enabled && stores.outbox
        ? createWebhooksFeature(webhooks, {
            outbox: stores.outbox,
            consumer: instanceId,
            registry: metrics.registry,
            logger,
          })
        : undefined,
    /** The internal API's read side beyond chat: presence, unread counts, the instances. */
    reads: (services: {
      presence: Pick<PresenceService, "query">;
      notifications: Pick<NotificationService, "unreadCount">;
    }): InternalReads => ({
      presence: (userIds) => services.presence.query(userIds),
      unreadCount: (userId) => services.notifications.unreadCount(userId),
      async instances() {
        const live = await instanceStore.live();
        return Promise.all(
          live.map(async ({ registration, lastBeat }) => ({
            instanceId: registration.slice(0, registration.lastIndexOf("~")),
            registration,
            lastHeartbeat: lastBeat,
            connections: (await presenceStore?.connectionCount(registration)) ?? 0,
          })),
        );
      },
    }),
    internalApi: (services: {
      notifications: Pick<NotificationService, "publish">;
      rooms: RoomMessages;
      reads: InternalReads;
    }) =>
      createInternalApiFeature(
        { ...config.internalApi, version: config.version },
        {
          ...services,
          ...(deadLetters ? { deadLetters } : {}),
          sockets: io,
          revocations,
          adapterReady: () => !redis || redis.isReady(),
          rateLimiter,
          logger,
          onRequest: (route, status) => metrics.internalApiRequests.inc({ route, status: String(status) }),
        },
      ),
    demo: (services: { notifications: Pick<NotificationService, "publish"> }, staticDir?: string) =>
      createDemoFeature({ jwt: config.jwt, staticDir }, { ...services, verifier, rateLimiter, logger }),
    admin: (options: AdminOptions) =>
      createAdminFeature(options, { io, sessions: stores.adminSessions, instanceId, rateLimiter, logger }),
  };
}
