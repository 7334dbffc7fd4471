"""``python -m services.risk``: run the risk service until SIGTERM/SIGINT."""

import asyncio

from services.risk.server import main

asyncio.run(main())
