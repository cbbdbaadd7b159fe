#!/usr/bin/env python3
"""A Python client of the real-time socket server, with python-socketio (Socket.IO v5 protocol).

It connects with a JWT, joins a room, sends a message and waits for its acknowledgement and
for the live ``chat:message``, then shows how refusals look: the typed error envelope of a
refused request, and the ``connect_error`` of a refused handshake. Every step is printed as
one JSON line, so a person can read it and a test can check it.

    python3 chat_client.py --url http://localhost:3000 --token "$TOKEN" --transport websocket

Get a development token with ``npm run token -- --sub alice --rooms 'team:*'``. Runs with
Debian's ``python3-socketio`` (5.7) and its ``python3-requests`` (polling) and
``python3-websocket`` (websocket), or the same packages from PyPI.
"""

import argparse
import functools
import json
import queue
import sys
import uuid

import socketio
import websocket


def without_origin_header():
    """Stop websocket-client from sending ``Origin: http://<server host>``.

    The server checks the Origin of every request against ``CORS_ORIGINS`` (that is what stops
    cross-site WebSocket hijacking by browsers). A request without an Origin comes from a
    non-browser client and is let through to the token check; an invented Origin is refused.
    python-engineio >= 4.4 can say this with
    ``socketio.Client(websocket_extra_options={"suppress_origin": True})``; the 4.3 that Debian 12
    ships cannot, hence the wrapper.
    """
    websocket.create_connection = functools.partial(websocket.create_connection, suppress_origin=True)


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def request(sio, event, payload, timeout=5):
    """Emit with an ack. The answer is always ``{"ok": True, "data": ...}`` or
    ``{"ok": False, "error": {"code", "message", "retryAfterMs"?, "fields"?}}``."""
    return sio.call(event, payload, timeout=timeout)


def chat(url, token, transport, room):
    messages = queue.Queue()
    sio = socketio.Client(reconnection=False)
    sio.on("chat:message", messages.put)
    # Events sent without an ack that fail are answered with server:error {event, code, message}.
    sio.on("server:error", lambda error: say("server:error", error=error))

    sio.connect(url, auth={"token": token}, transports=[transport], wait_timeout=5)
    say("connected", transport=sio.transport(), sid=sio.sid)
    try:
        joined = request(sio, "chat:join", {"roomId": room})
        say("chat:join", ok=joined["ok"], messages=len(joined["data"]["messages"]))

        client_msg_id = str(uuid.uuid4())
        text = f"hello from Python over {transport}"
        sent = request(sio, "chat:send", {"roomId": room, "text": text, "clientMsgId": client_msg_id})
        say("chat:send", ok=sent["ok"], id=sent["data"]["id"], text=sent["data"]["text"])

        # Every socket in the room receives the message, the sender's own included.
        while True:
            message = messages.get(timeout=5)
            if message["id"] == sent["data"]["id"]:
                break
        say("chat:message", id=message["id"], text=message["text"], senderId=message["senderId"])

        # Refused requests: the same envelope, with a code from the error catalogue.
        refused = request(sio, "chat:send", {"roomId": room, "text": ""})
        say("refused", event="chat:send", answer=refused)
        refused = request(sio, "chat:send", {"roomId": "team:not-joined", "text": "hi"})
        say("refused", event="chat:send", answer=refused)
    finally:
        sio.disconnect()


def refused_handshake(url, transport):
    """A bad token: the server refuses the connection with a typed reason."""
    sio = socketio.Client(reconnection=False)
    errors = []
    sio.on("connect_error", errors.append)
    try:
        # After a connect_error python-socketio 5.7 still waits wait_timeout for a later answer.
        sio.connect(url, auth={"token": "not-a-jwt"}, transports=[transport], wait_timeout=1)
        sio.disconnect()
    except socketio.exceptions.ConnectionError:
        pass
    # {"message": "unauthorized", "data": {"status": 401, "code": "TOKEN_INVALID"}}
    say("connect_error", error=errors[0] if errors else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://localhost:3000")
    parser.add_argument("--token", required=True, help="a JWT the service accepts")
    parser.add_argument("--transport", choices=["websocket", "polling"], default="websocket")
    parser.add_argument("--room", default="team:python")
    args = parser.parse_args()

    without_origin_header()
    chat(args.url, args.token, args.transport, args.room)
    refused_handshake(args.url, args.transport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
