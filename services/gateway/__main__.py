"""``python -m services.gateway``: run the gateway until SIGTERM/SIGINT."""

import asyncio

from services.gateway.server import main

asyncio.run(main())
