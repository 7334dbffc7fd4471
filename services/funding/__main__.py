"""``python -m services.funding``: run the funding service until SIGTERM/SIGINT."""

import asyncio

from services.funding.server import main

asyncio.run(main())
