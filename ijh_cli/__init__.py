"""The ``ijh`` command: officers, agencies and fund analysts talking to the gateway."""
