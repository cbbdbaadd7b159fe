import {
  type ChatJoinResult,
  connect,
  createClientMsgId,
  type Message,
  type Notification,
  type PresenceState,
  type RealtimeClient,
  RealtimeError,
  type SettableStatus,
  type StatusEvent,
} from "../../packages/client/src/index.js";
import { mintToken, notifyMe } from "./api.js";
import { byId, h } from "./dom.js";
import { RoomModel, roomIdFromInput, roomLabel, timeOf, typingLine } from "./state.js";

const DEFAULT_ROOMS = ["demo:lobby", "demo:random"];
const NAME_KEY = "realtime-demo:name";
/** Only the newest messages are in the DOM; older ones come back with "Load older". */
const MAX_RENDERED = 300;
/** The reactions the demo offers on every message. */
const QUICK_REACTIONS = ["👍", "🎉", "❤️"];
/** A `chat:room` burst (one per room per second) refreshes the sidebar's counts once. */
const ROOM_LIST_REFRESH_MS = 300;

/** typing: true is re-sent this often while the user keeps typing (the SDK expires it after 6 s). */
const TYPING_REFRESH_MS = 3000;
const TYPING_IDLE_MS = 4000;

const els = {
  connection: byId("connection"),
  connectionLabel: byId("connection").querySelector(".label") as HTMLElement,
  connectionError: byId("connection-error"),
  me: byId("me"),
  meName: byId("me-name"),
  statusSelect: byId<HTMLSelectElement>("status-select"),
  bell: byId<HTMLButtonElement>("bell"),
  bellCount: byId("bell-count"),
  login: byId("login"),
  loginForm: byId<HTMLFormElement>("login-form"),
  nameInput: byId<HTMLInputElement>("name"),
  loginError: byId("login-error"),
  app: byId("app"),
  rooms: byId("rooms"),
  joinForm: byId<HTMLFormElement>("join-form"),
  joinInput: byId<HTMLInputElement>("join-input"),
  people: byId("people"),
  onlineCount: byId("online-count"),
  roomTitle: byId("room-title"),
  roomNote: byId("room-note"),
  scroller: byId("messages-scroll"),
  loadOlder: byId<HTMLButtonElement>("load-older"),
  messages: byId("messages"),
  typing: byId("typing"),
  composer: byId<HTMLFormElement>("composer"),
  messageInput: byId<HTMLInputElement>("message-input"),
  composerMode: byId("composer-mode"),
  composerModeText: byId("composer-mode-text"),
  composerCancel: byId<HTMLButtonElement>("composer-cancel"),
  panel: byId("notifications"),
  notificationList: byId("notification-list"),
  notificationEmpty: byId("notification-empty"),
  markRead: byId<HTMLButtonElement>("mark-read"),
  notifyMe: byId<HTMLButtonElement>("notify-me"),
  toasts: byId("toasts"),
};

function toast(text: string, bad = false): void {
  const el = h("div", {
    class: bad ? "toast bad" : "toast",
    text,
    attrs: { role: bad ? "alert" : "status" },
  });
  els.toasts.append(el);
  setTimeout(() => el.remove(), 4000);
}

function describeError(err: unknown): string {
  if (err instanceof RealtimeError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

const STATUS_LABELS: Record<StatusEvent["status"], string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

/**
 * Why the page is not connected, in plain sight: a refused connection (an origin the server
 * does not accept, a refused token) would otherwise look like "Connecting…" for ever.
 */
function showConnectionError(event: StatusEvent): void {
  const failing = event.error !== undefined && event.status !== "connected" && event.attempt > 0;
  els.connectionError.hidden = !failing;
  if (!failing || !event.error) return;
  // Without a code the server's answer never reached the page: a refused origin looks like this.
  const hint =
    event.error.code === "DISCONNECTED"
      ? ` If the server is up, it may refuse this page's origin (${location.origin}): its log says so; add the origin to CORS_ORIGINS.`
      : "";
  els.connectionError.textContent = `Cannot connect: ${describeError(event.error)}.${hint}`;
}

class DemoApp {
  private readonly client: RealtimeClient;
  private readonly rooms = new Map<string, RoomModel>();
  private readonly presence = new Map<string, PresenceState>();
  private readonly names = new Map<string, string>();
  private readonly subscribed = new Set<string>();
  private current = DEFAULT_ROOMS[0] as string;
  private notifications: Notification[] = [];
  private unread = 0;
  private token: string;
  private typingSentAt = 0;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;
  /** The composer edits this message, or answers that one. */
  private mode: { kind: "edit" | "reply"; roomId: string; messageId: string } | undefined;
  /** Unread counts from the server for listed rooms this page has not joined. */
  private readonly listed = new Map<string, number>();
  private roomListTimer: ReturnType<typeof setTimeout> | undefined;
  /** The newest message id this page told the server it read, per room. */
  private readonly readUpTo = new Map<string, string>();

  constructor(
    private readonly me: { id: string; name: string },
    firstToken: string,
  ) {
    this.token = firstToken;
    this.names.set(me.id, me.name);
    let unused: string | undefined = firstToken;
    this.client = connect({
      url: location.origin,
      // The first token was just minted by the login form; later calls (refresh before
      // expiry, reconnects after a refusal) mint a new one for the same name.
      getToken: async () => {
        if (unused) {
          const token = unused;
          unused = undefined;
          return token;
        }
        const fresh = await mintToken(me.name);
        this.token = fresh.token;
        return fresh.token;
      },
    });
    this.wireClient();
    this.wireUi();
    for (const roomId of DEFAULT_ROOMS) this.rooms.set(roomId, new RoomModel(roomId));
    this.renderRooms();
    void this.joinRoom(this.current);
    void this.refreshRoomList();
  }

  private room(roomId: string): RoomModel {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new RoomModel(roomId);
      this.rooms.set(roomId, room);
    }
    return room;
  }

  private nameOf(userId: string): string {
    return this.names.get(userId) ?? userId;
  }

  // --- SDK events -----------------------------------------------------------------------
  private wireClient(): void {
    const c = this.client;
    c.on("status", (event) => {
      els.connection.dataset.status = event.status;
      const attempt = event.status !== "connected" && event.attempt > 0 ? ` (attempt ${event.attempt})` : "";
      els.connectionLabel.textContent = STATUS_LABELS[event.status] + attempt;
      els.connection.title = event.error ? describeError(event.error) : "";
      showConnectionError(event);
      if (event.status === "closed" && event.error)
        toast(`Disconnected: ${describeError(event.error)}`, true);
    });
    c.on("message", (message) => this.onMessage(message));
    c.on("changed", (message) => {
      const room = this.rooms.get(message.roomId);
      if (room?.update(message) && message.roomId === this.current) this.renderMessages(false);
    });
    // A room of the list this page has not joined got a message: its count comes from the server.
    c.on("room", () => {
      clearTimeout(this.roomListTimer);
      this.roomListTimer = setTimeout(() => void this.refreshRoomList(), ROOM_LIST_REFRESH_MS);
    });
    c.on("typing", ({ roomId, userId, typing }) => {
      const room = this.rooms.get(roomId);
      if (!room) return;
      if (typing) room.typing.add(userId);
      else room.typing.delete(userId);
      if (roomId === this.current) this.renderTyping();
    });
    c.on("member", ({ roomId, userId, event }) => {
      const room = this.rooms.get(roomId);
      if (!room) return;
      if (event === "join") {
        room.online.add(userId);
        void this.watchPresence([userId]);
      } else {
        room.online.delete(userId);
        room.typing.delete(userId);
      }
      if (roomId === this.current) {
        this.renderPeople();
        this.renderTyping();
      }
    });
    c.on("rejoin", (event) => {
      const room = this.room(event.roomId);
      room.online.clear();
      for (const id of event.online) room.online.add(id);
      void this.watchPresence(event.online);
      // After a gap: the server's newest page replaces what the room showed.
      if (!event.recovered) room.replace(event.messages, true);
      if (event.roomId === this.current) this.renderRoom();
    });
    c.on("gap", ({ roomId, reason }) => {
      const room = this.room(roomId);
      room.note =
        reason === "epoch"
          ? "The server lost this room's history: only newer messages are shown."
          : "Some messages expired before they reached you: load older ones below.";
      if (roomId === this.current) els.roomNote.textContent = room.note;
    });
    c.on("presence", (state) => {
      this.presence.set(state.userId, state);
      if (state.userId === this.me.id && state.status !== "offline") els.statusSelect.value = state.status;
      this.renderPeople();
    });
    c.on("notification", (notification) => {
      this.notifications = [notification, ...this.notifications.filter((n) => n.id !== notification.id)];
      this.setUnread(this.unread + 1);
      this.renderNotifications();
      toast(`New notification: ${notification.title}`);
    });
    c.on("unread", ({ count }) => this.setUnread(count));
    c.on("error", (err) => {
      // Rate limits on typing are expected when someone types fast; not worth a toast.
      if (err.code !== "RATE_LIMITED") toast(describeError(err), true);
    });
  }

  private onMessage(message: Message): void {
    if (message.senderName) this.names.set(message.senderId, message.senderName);
    const room = this.rooms.get(message.roomId);
    if (!room) return;
    room.typing.delete(message.senderId);
    if (!room.add(message)) return;
    if (message.roomId === this.current) {
      this.renderMessages();
      this.renderTyping();
    } else {
      room.unseen += 1;
      this.renderRooms();
    }
  }

  private async watchPresence(userIds: readonly string[]): Promise<void> {
    const fresh = userIds.filter((id) => !this.subscribed.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) this.subscribed.add(id);
    try {
      for (const state of await this.client.presence.subscribe(fresh)) this.presence.set(state.userId, state);
      this.renderPeople();
    } catch (err) {
      for (const id of fresh) this.subscribed.delete(id);
      toast(`Presence: ${describeError(err)}`, true);
    }
  }

  // --- rooms ----------------------------------------------------------------------------
  private async joinRoom(roomId: string): Promise<void> {
    const room = this.room(roomId);
    let result: ChatJoinResult;
    try {
      result = await this.client.chat.join(roomId);
    } catch (err) {
      toast(`Could not join ${roomLabel(roomId)}: ${describeError(err)}`, true);
      return;
    }
    room.joined = true;
    this.listed.delete(roomId);
    for (const message of result.messages) {
      if (message.senderName) this.names.set(message.senderId, message.senderName);
    }
    room.replace(result.messages, result.hasMore);
    room.online.clear();
    for (const id of result.online) room.online.add(id);
    void this.watchPresence(result.online);
    if (roomId === this.current) this.renderRoom();
    this.renderRooms();
  }

  private showRoom(roomId: string): void {
    this.stopTyping();
    this.setMode(undefined);
    this.current = roomId;
    const room = this.room(roomId);
    room.unseen = 0;
    els.roomNote.textContent = room.note;
    this.renderRooms();
    this.renderRoom();
    if (!room.joined) void this.joinRoom(roomId);
  }

  private async loadOlder(): Promise<void> {
    const room = this.room(this.current);
    const before = room.oldestId();
    if (!before) return;
    try {
      const page = await this.client.chat.history(room.id, { before, limit: 50 });
      room.prepend(page.messages, page.hasMore);
      const height = els.scroller.scrollHeight;
      this.renderMessages(false);
      els.scroller.scrollTop = els.scroller.scrollHeight - height;
    } catch (err) {
      toast(describeError(err), true);
    }
  }

  // --- sending and typing -----------------------------------------------------------------
  private send(text: string): void {
    const roomId = this.current;
    const room = this.room(roomId);
    const mode = this.mode?.roomId === roomId ? this.mode : undefined;
    this.setMode(undefined);
    if (mode?.kind === "edit") {
      this.client.chat
        .edit(roomId, mode.messageId, text)
        .then(({ message }) => room.update(message) && roomId === this.current && this.renderMessages(false))
        .catch((err: unknown) => toast(`Not edited: ${describeError(err)}`, true));
      return;
    }
    const clientMsgId = createClientMsgId();
    room.pending.set(clientMsgId, { clientMsgId, text, createdAt: Date.now(), failed: false });
    this.renderMessages();
    this.stopTyping();
    // Offline or not: the SDK queues it and retries with the same clientMsgId until acknowledged.
    const replyTo = mode?.kind === "reply" ? { replyTo: mode.messageId } : {};
    this.client.chat.send(roomId, text, { clientMsgId, ...replyTo }).then(
      (message) => this.onMessage(message),
      (err: unknown) => {
        const pending = room.pending.get(clientMsgId);
        if (pending) pending.failed = true;
        if (roomId === this.current) this.renderMessages();
        toast(`Not sent: ${describeError(err)}`, true);
      },
    );
  }

  private setMode(mode: DemoApp["mode"]): void {
    this.mode = mode;
    els.composerMode.hidden = mode === undefined;
    if (!mode) return;
    const target = this.room(mode.roomId).messages.get(mode.messageId);
    const who = target ? (target.senderName ?? this.nameOf(target.senderId)) : "";
    els.composerModeText.textContent =
      mode.kind === "edit" ? "Editing your message" : `Replying to ${who}: ${target?.text ?? ""}`;
    if (mode.kind === "edit") els.messageInput.value = target?.text ?? "";
    els.messageInput.focus();
  }

  private async react(message: Message, emoji: string): Promise<void> {
    const mine = message.reactions?.find((r) => r.emoji === emoji)?.users.includes(this.me.id) ?? false;
    try {
      const { message: now } = await this.client.chat.react(message.roomId, message.id, emoji, !mine);
      if (this.room(message.roomId).update(now) && message.roomId === this.current)
        this.renderMessages(false);
    } catch (err) {
      toast(describeError(err), true);
    }
  }

  private async remove(message: Message): Promise<void> {
    try {
      const { message: now } = await this.client.chat.delete(message.roomId, message.id);
      if (this.room(message.roomId).update(now) && message.roomId === this.current)
        this.renderMessages(false);
    } catch (err) {
      toast(describeError(err), true);
    }
  }

  /** The sidebar's rooms and counts from the user's room list (rooms joined on other pages too). */
  private async refreshRoomList(): Promise<void> {
    try {
      const { rooms } = await this.client.chat.roomList({ limit: 50 });
      for (const entry of rooms) {
        if (!entry.roomId.startsWith("demo:")) continue;
        const room = this.room(entry.roomId);
        if (room.joined) continue;
        this.listed.set(entry.roomId, entry.unread);
      }
      this.renderRooms();
    } catch (err) {
      toast(`Room list: ${describeError(err)}`, true);
    }
  }

  /** Tell the server the newest message shown in the current room is read (for its unread counts). */
  private markShownRead(): void {
    const room = this.room(this.current);
    const newest = room.sorted(1)[0];
    if (!newest || !room.joined || this.readUpTo.get(room.id) === newest.id) return;
    this.readUpTo.set(room.id, newest.id);
    this.client.chat.read(room.id, newest.id).catch(() => {
      // best effort: the next message tries again
      this.readUpTo.delete(room.id);
    });
  }

  private onInput(): void {
    if (els.messageInput.value.trim() === "") {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_REFRESH_MS) {
      this.typingSentAt = now;
      this.client.chat.typing(this.current, true).catch(() => {
        // best effort: a missed indicator is not worth an error
      });
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingIdle);
    if (this.typingSentAt === 0) return;
    this.typingSentAt = 0;
    this.client.chat.typing(this.current, false).catch(() => {
      // best effort
    });
  }

  // --- notifications ------------------------------------------------------------------------
  private setUnread(count: number): void {
    this.unread = Math.max(0, count);
    els.bellCount.textContent = this.unread > 99 ? "99+" : String(this.unread);
    els.bellCount.hidden = this.unread === 0;
    els.bell.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
  }

  private async openPanel(): Promise<void> {
    const opening = els.panel.hidden;
    els.panel.hidden = !opening;
    els.bell.setAttribute("aria-expanded", String(opening));
    if (!opening) return;
    try {
      const page = await this.client.notifications.list({ limit: 20 });
      this.notifications = page.items;
      this.setUnread(page.unreadCount);
      this.renderNotifications();
    } catch (err) {
      toast(describeError(err), true);
    }
  }

  private async markRead(ids: string[] | "all"): Promise<void> {
    try {
      const { unreadCount } = await this.client.notifications.read(ids);
      const now = Date.now();
      this.notifications = this.notifications.map((n) =>
        ids === "all" || ids.includes(n.id) ? { ...n, readAt: n.readAt ?? now } : n,
      );
      this.setUnread(unreadCount);
      this.renderNotifications();
    } catch (err) {
      toast(describeError(err), true);
    }
  }

  // --- UI wiring ------------------------------------------------------------------------------
  private wireUi(): void {
    els.meName.textContent = this.me.name;
    els.me.hidden = false;
    els.login.hidden = true;
    els.app.hidden = false;

    els.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = els.messageInput.value.trim();
      if (text === "") return;
      els.messageInput.value = "";
      this.send(text);
    });
    els.composerCancel.addEventListener("click", () => {
      if (this.mode?.kind === "edit") els.messageInput.value = "";
      this.setMode(undefined);
    });
    els.messageInput.addEventListener("input", () => this.onInput());
    els.messageInput.addEventListener("blur", () => this.stopTyping());

    els.joinForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const roomId = roomIdFromInput(els.joinInput.value);
      if (!roomId) {
        toast("Room names: letters, digits, _ and - (up to 32)", true);
        return;
      }
      els.joinInput.value = "";
      this.room(roomId);
      this.showRoom(roomId);
    });

    els.statusSelect.addEventListener("change", () => {
      this.client.presence.set(els.statusSelect.value as SettableStatus).catch((err: unknown) => {
        toast(describeError(err), true);
      });
    });

    els.bell.addEventListener("click", () => void this.openPanel());
    els.markRead.addEventListener("click", () => void this.markRead("all"));
    els.notifyMe.addEventListener("click", () => {
      els.notifyMe.disabled = true;
      notifyMe(this.token)
        .catch((err: unknown) => toast(describeError(err), true))
        .finally(() => {
          els.notifyMe.disabled = false;
        });
    });
    els.loadOlder.addEventListener("click", () => void this.loadOlder());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !els.panel.hidden) void this.openPanel();
      else if (event.key === "Escape" && this.mode) this.setMode(undefined);
    });
  }

  // --- rendering ------------------------------------------------------------------------------
  private renderRoom(): void {
    els.roomTitle.textContent = roomLabel(this.current);
    this.renderMessages();
    this.renderPeople();
    this.renderTyping();
  }

  private renderRooms(): void {
    const items = [...this.rooms.values()].map((room) => {
      const button = h(
        "button",
        { attrs: { type: "button", "aria-current": String(room.id === this.current) } },
        h("span", { text: roomLabel(room.id) }),
        this.badgeOf(room) > 0 ? h("span", { class: "room-unread", text: String(this.badgeOf(room)) }) : null,
      );
      button.addEventListener("click", () => this.showRoom(room.id));
      return h("li", { data: { room: room.id } }, button);
    });
    els.rooms.replaceChildren(...items);
  }

  /** Unseen here for a joined room; the server's unread count for one only listed. */
  private badgeOf(room: RoomModel): number {
    if (room.id === this.current) return 0;
    return room.joined ? room.unseen : (this.listed.get(room.id) ?? 0);
  }

  private renderMessages(stickToBottom = true): void {
    const room = this.room(this.current);
    const atBottom = els.scroller.scrollHeight - els.scroller.scrollTop - els.scroller.clientHeight < 80;
    const messages = room.sorted(MAX_RENDERED).map((message) => this.messageItem(message));
    const pending = [...room.pending.values()].map((p) =>
      h(
        "li",
        {
          class: p.failed ? "message mine failed" : "message mine pending",
          data: { clientMsgId: p.clientMsgId },
        },
        h(
          "div",
          { class: "meta" },
          h("span", { class: "author", text: this.me.name }),
          h("span", { text: p.failed ? "not sent" : "sending…" }),
        ),
        h("div", { class: "text", text: p.text }),
      ),
    );
    els.messages.replaceChildren(...messages, ...pending);
    els.loadOlder.hidden = !room.hasMore;
    this.markShownRead();
    if (stickToBottom && (atBottom || pending.length > 0)) els.scroller.scrollTop = els.scroller.scrollHeight;
  }

  private messageItem(message: Message): HTMLLIElement {
    const mine = message.senderId === this.me.id;
    const room = this.room(message.roomId);
    const answered = message.replyTo === undefined ? undefined : room.messages.get(message.replyTo);
    const button = (action: string, label: string, run: () => void) => {
      const el = h("button", { text: label, attrs: { type: "button" }, data: { action } });
      el.addEventListener("click", run);
      return el;
    };
    const reactions = (message.reactions ?? []).map((r) => {
      const pressed = r.users.includes(this.me.id);
      const el = h("button", {
        text: `${r.emoji} ${r.count}`,
        attrs: {
          type: "button",
          "aria-pressed": String(pressed),
          title: r.users.map((u) => this.nameOf(u)).join(", "),
        },
        data: { emoji: r.emoji },
      });
      el.addEventListener("click", () => void this.react(message, r.emoji));
      return el;
    });
    const classes = ["message", mine ? "mine" : "", message.deleted ? "deleted" : ""]
      .filter(Boolean)
      .join(" ");
    return h(
      "li",
      { class: classes, data: { id: message.id, sender: message.senderId } },
      message.replyTo === undefined
        ? null
        : h("div", {
            class: "quote",
            text: answered
              ? `↪ ${answered.senderName ?? this.nameOf(answered.senderId)}: ${answered.deleted ? "message deleted" : answered.text}`
              : "↪ an earlier message",
          }),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "author", text: message.senderName ?? this.nameOf(message.senderId) }),
        h("time", {
          text: timeOf(message.createdAt),
          attrs: { datetime: new Date(message.createdAt).toISOString() },
        }),
        message.editedAt !== undefined && !message.deleted
          ? h("span", { class: "edited", text: "(edited)" })
          : null,
      ),
      h("div", { class: "text", text: message.deleted ? "Message deleted" : message.text }),
      reactions.length > 0 ? h("div", { class: "reactions" }, ...reactions) : null,
      message.deleted
        ? null
        : h(
            "div",
            { class: "actions" },
            button("reply", "Reply", () =>
              this.setMode({ kind: "reply", roomId: message.roomId, messageId: message.id }),
            ),
            ...QUICK_REACTIONS.filter((e) => !message.reactions?.some((r) => r.emoji === e)).map((emoji) =>
              button("react", emoji, () => void this.react(message, emoji)),
            ),
            mine
              ? button("edit", "Edit", () =>
                  this.setMode({ kind: "edit", roomId: message.roomId, messageId: message.id }),
                )
              : null,
            mine ? button("delete", "Delete", () => void this.remove(message)) : null,
          ),
    );
  }

  private renderPeople(): void {
    const room = this.room(this.current);
    const ids = [...room.online].sort((a, b) =>
      a === this.me.id ? -1 : b === this.me.id ? 1 : this.nameOf(a).localeCompare(this.nameOf(b)),
    );
    els.onlineCount.textContent = `(${ids.length})`;
    els.people.replaceChildren(
      ...ids.map((id) => {
        const state = this.presence.get(id);
        const status = state?.status ?? "online";
        const label = state?.text ? `${status} · ${state.text}` : status;
        return h(
          "li",
          { data: { user: id, status }, attrs: { title: label } },
          h("span", { class: "status-dot", attrs: { "aria-hidden": "true" } }),
          h("span", {
            class: "person-name",
            text: id === this.me.id ? `${this.nameOf(id)} (you)` : this.nameOf(id),
          }),
          h("span", { class: "person-status", text: label }),
        );
      }),
    );
  }

  private renderTyping(): void {
    const room = this.room(this.current);
    els.typing.textContent = typingLine([...room.typing].map((id) => this.nameOf(id)));
  }

  private renderNotifications(): void {
    els.notificationEmpty.hidden = this.notifications.length > 0;
    els.notificationList.replaceChildren(
      ...this.notifications.map((n) => {
        const item = h(
          "li",
          { class: n.readAt === null ? "unread" : "", data: { id: n.id } },
          h("span", { class: "n-title", text: n.title }),
          n.body ? h("span", { class: "n-body", text: n.body }) : null,
          h("span", { class: "n-time", text: timeOf(n.createdAt) }),
        );
        if (n.readAt === null) item.addEventListener("click", () => void this.markRead([n.id]));
        return item;
      }),
    );
  }
}

// --- login -----------------------------------------------------------------------------------
async function enter(name: string): Promise<void> {
  els.loginError.textContent = "";
  const submit = els.loginForm.querySelector("button") as HTMLButtonElement;
  submit.disabled = true;
  try {
    const { token, userId } = await mintToken(name);
    sessionStorage.setItem(NAME_KEY, name);
    new DemoApp({ id: userId, name }, token);
  } catch (err) {
    els.loginError.textContent = describeError(err);
  } finally {
    submit.disabled = false;
  }
}

els.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = els.nameInput.value.trim();
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) {
    els.loginError.textContent = "Use 1 to 32 letters, digits, _ or -.";
    return;
  }
  void enter(name);
});

const remembered = sessionStorage.getItem(NAME_KEY);
if (remembered) {
  els.nameInput.value = remembered;
  void enter(remembered);
} else {
  els.nameInput.focus();
}
