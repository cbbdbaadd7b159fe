import { z } from "zod";
import { webhookPayloads } from "../webhooks/events.js";
import {
  deadLettersResponse,
  errorResponse,
  instancesResponse,
  postedMessageResponse,
  presenceStateResponse,
  publishedResponse,
  redeliveredResponse,
  revokedResponse,
  roomHistoryResponse,
  roomOnlineResponse,
  unreadCountResponse,
  userResponse,
} from "./responses.js";
import {
  deadLetterListQuery,
  deadLetterParams,
  publishNotificationBody,
  revokeBody,
  roomHistoryQuery,
  roomMessageBody,
  roomParams,
  userParams,
} from "./schemas.js";

/** One route of the internal API as the document describes it; `path` is Express's (`:roomId`). */
export interface RouteDoc {
  method: "get" | "post";
  path: string;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  status: number;
  response: z.ZodType;
}

/**
 * Every route of /internal, with the schemas its handler validates with (schemas.ts) and
 * the shape it answers. test/internal-api/openapi.test.ts holds it to the router's routes.
 */
export const INTERNAL_ROUTES: readonly RouteDoc[] = [
  {
    method: "post",
    path: "/internal/notifications",
    summary: "Notify users (stored, then pushed to their connected devices)",
    body: publishNotificationBody,
    status: 202,
    response: publishedResponse,
  },
  {
    method: "post",
    path: "/internal/rooms/:roomId/messages",
    summary: "Post a system message into a room",
    params: roomParams,
    body: roomMessageBody,
    status: 201,
    response: postedMessageResponse,
  },
  {
    method: "get",
    path: "/internal/rooms/:roomId/messages",
    summary: "A room's history, paged by seq: the newest without afterSeq, oldest first after it",
    params: roomParams,
    query: roomHistoryQuery,
    status: 200,
    response: roomHistoryResponse,
  },
  {
    method: "get",
    path: "/internal/rooms/:roomId/online",
    summary: "Who is in the room now, across instances, with each user's presence",
    params: roomParams,
    status: 200,
    response: roomOnlineResponse,
  },
  {
    method: "post",
    path: "/internal/users/:userId/disconnect",
    summary: "Disconnect every socket of a user on every instance",
    params: userParams,
    status: 202,
    response: userResponse,
  },
  {
    method: "post",
    path: "/internal/users/:userId/revoke",
    summary:
      "Refuse every token of the user issued before `before` (default now), on every instance, and disconnect the user's sockets",
    params: userParams,
    body: revokeBody,
    status: 202,
    response: revokedResponse,
  },
  {
    method: "get",
    path: "/internal/users/:userId/presence",
    summary: "A user's presence: status, text, devices, last seen",
    params: userParams,
    status: 200,
    response: presenceStateResponse,
  },
  {
    method: "get",
    path: "/internal/users/:userId/notifications/unread-count",
    summary: "A user's unread notification count",
    params: userParams,
    status: 200,
    response: unreadCountResponse,
  },
  {
    method: "get",
    path: "/internal/instances",
    summary: "The running instances with their connection counts",
    status: 200,
    response: instancesResponse,
  },
  {
    method: "get",
    path: "/internal/webhooks/dead-letters",
    summary: "Webhook events out of retries, oldest first (404 when webhooks are off)",
    query: deadLetterListQuery,
    status: 200,
    response: deadLettersResponse,
  },
  {
    method: "post",
    path: "/internal/webhooks/dead-letters/:id/redeliver",
    summary: "Put a dead letter back into the outbox, with its webhook-id",
    params: deadLetterParams,
    status: 202,
    response: redeliveredResponse,
  },
  {
    method: "get",
    path: "/internal/openapi.json",
    summary: "This document",
    status: 200,
    response: z.record(z.string(), z.unknown()),
  },
];

type JsonSchema = Record<string, unknown>;

const ERROR_STATUSES: Record<string, string> = {
  "400": "INVALID_PAYLOAD: the request does not match its schema (`fields` says where)",
  "401": "UNAUTHORIZED: missing or wrong API key",
  "404": "NOT_FOUND",
  "429": "RATE_LIMITED (`retryAfterMs`)",
  "503": "UNAVAILABLE: Redis cannot be reached now; retry",
};

/**
 * Converts each schema; the named ones (`.meta({id})`, zod's global registry) become
 * `#/components/schemas/<id>` references shared by the routes and the webhooks.
 */
function schemaConverter() {
  const components: Record<string, JsonSchema> = {};
  const convert = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const converted = z.toJSONSchema(schema as z.core.$ZodType, {
      target: "draft-2020-12",
      io,
      unrepresentable: "any",
    });
    // The named schemas go to the document's components, where every reference points.
    const json = JSON.parse(
      JSON.stringify(converted).replaceAll('"#/$defs/', '"#/components/schemas/'),
    ) as JsonSchema & { $defs?: Record<string, JsonSchema>; $schema?: string };
    const { $defs, $schema: _, ...rest } = json;
    Object.assign(components, $defs ?? {});
    return rest;
  };
  return { convert, components };
}

function parametersOf(route: RouteDoc, convert: (s: z.ZodType, io: "input") => JsonSchema) {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [
    ["path", route.params],
    ["query", route.query],
  ] as const) {
    if (!schema) continue;
    const json = convert(schema, "input") as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = property;
      out.push({
        name,
        in: where,
        required: where === "path" || (json.required ?? []).includes(name),
        ...(description === undefined ? {} : { description }),
        schema: rest,
      });
    }
  }
  return out;
}

/** The OpenAPI 3.1 document of /internal and of the webhook payloads. */
export function buildOpenApiDocument(version: string): JsonSchema {
  const { convert, components } = schemaConverter();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const errorSchema = convert(errorResponse, "output");
  for (const route of INTERNAL_ROUTES) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const parameters = parametersOf(route, convert);
    paths[path] ??= {};
    (paths[path] as Record<string, JsonSchema>)[route.method] = {
      summary: route.summary,
      security: [{ bearer: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: convert(route.body, "input") } },
            },
          }
        : {}),
      responses: {
        [String(route.status)]: {
          description: "Success",
          content: { "application/json": { schema: convert(route.response, "output") } },
        },
        ...Object.fromEntries(
          Object.entries(ERROR_STATUSES).map(([status, description]) => [
            status,
            { description, content: { "application/json": { schema: errorSchema } } },
          ]),
        ),
      },
    };
  }
  const webhooks: Record<string, JsonSchema> = {};
  for (const payload of webhookPayloads) {
    const type = (payload.shape.type as z.ZodLiteral<string>).value;
    webhooks[type] = {
      post: {
        summary: `The ${type} event, signed as Standard Webhooks specifies (webhook-id, webhook-timestamp, webhook-signature)`,
        parameters: ["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => ({
          name,
          in: "header",
          required: true,
          schema: { type: "string" },
        })),
        requestBody: {
          required: true,
          content: { "application/json": { schema: convert(payload, "output") } },
        },
        responses: { "2XX": { description: "Delivered; anything else (or no answer in time) is retried" } },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Real-time socket server: internal API and webhooks",
      version,
      description:
        "Server-to-server API (Bearer INTERNAL_API_KEY) and the webhooks the service posts to WEBHOOK_URL.",
    },
    paths,
    webhooks,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "INTERNAL_API_KEY" } },
      schemas: components,
    },
  };
}
