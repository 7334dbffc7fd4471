"""What the three services share: config, logging, errors, events and the gRPC server frame."""
