"""``python -m services.watch_events``: print each CloudEvent as it reaches JetStream.

A reader for people and scripts: one JSON envelope per line on stdout.
``--from-start`` replays the stream from its first event; ``--count N`` exits after N.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import nats
from nats.js import api

from services.shared.config import load_settings


async def watch(nats_url: str, stream: str, subject: str, from_start: bool,
                count: int | None) -> int:
    nc = await nats.connect(servers=[nats_url], connect_timeout=2)
    js = nc.jetstream()
    policy = api.DeliverPolicy.ALL if from_start else api.DeliverPolicy.NEW
    subscription = await js.subscribe(subject, stream=stream, ordered_consumer=True,
                                      deliver_policy=policy)
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
    settings = load_settings()
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
