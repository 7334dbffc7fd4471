"""``python -m services.watch_events``: print each CloudEvent as it reaches JetStream.

A reader for people and scripts: one JSON envelope per line on stdout.
``--from-start`` replays the stream from its first event; ``--count N`` exits after N.

NATS not up yet (or gone for a while) is no error for a watcher: it says once on
stderr, in one line, which URL it cannot reach, and keeps trying quietly until it can
(Ctrl-C stops it); so too for a stream not yet created. `make run` prints the command
with the ``--nats-url`` it uses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import nats
from nats.js import api
from nats.js.errors import NotFoundError

from services.shared.config import settings_for_tool
from services.shared.events import safe_url

RETRY_SECONDS = 2.0


async def watch(nats_url: str, stream: str, subject: str, from_start: bool,
                count: int | None) -> int:
    shown = safe_url(nats_url)
    said = False

    async def on_error(exc: Exception) -> None:  # instead of nats-py's traceback
        nonlocal said
        if not said:
            said = True
            print(f"watch_events: cannot reach NATS at {shown} "
                  f"({type(exc).__name__}{': ' + str(exc) if str(exc) else ''}); "
                  f"retrying every {RETRY_SECONDS:g} s (Ctrl-C stops)", file=sys.stderr,
                  flush=True)

    async def on_connected() -> None:
        nonlocal said
        if said:
            said = False
            print(f"watch_events: connected to {shown}", file=sys.stderr, flush=True)

    nc = await nats.connect(servers=[nats_url], connect_timeout=2, allow_reconnect=True,
                            max_reconnect_attempts=-1, reconnect_time_wait=RETRY_SECONDS,
                            error_cb=on_error, reconnected_cb=on_connected)
    await on_connected()
    js = nc.jetstream()
    policy = api.DeliverPolicy.ALL if from_start else api.DeliverPolicy.NEW
    waiting = False
    while True:
        try:
            subscription = await js.subscribe(subject, stream=stream, ordered_consumer=True,
                                              deliver_policy=policy)
            break
        except NotFoundError:
            if not waiting:
                waiting = True
                print(f"watch_events: NATS at {shown} has no stream {stream} yet (the "
                      "services create it when they start); waiting", file=sys.stderr,
                      flush=True)
            await asyncio.sleep(RETRY_SECONDS)
    seen = 0
    try:
        async for message in subscription.messages:
            sys.stdout.write(message.data.decode() + "\n")
            sys.stdout.flush()
            seen += 1
            if count is not None and seen >= count:
                break
    finally:
        await nc.close()
    return 0


def main() -> int:
    settings = settings_for_tool("watch_events")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nats-url", default=settings.nats_url)
    parser.add_argument("--stream", default=settings.event_stream)
    parser.add_argument("--subject", default="ijh.>")
    parser.add_argument("--from-start", action="store_true")
    parser.add_argument("--count", type=int)
    options = parser.parse_args()
    try:
        return asyncio.run(watch(options.nats_url, options.stream, options.subject,
                                 options.from_start, options.count))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
