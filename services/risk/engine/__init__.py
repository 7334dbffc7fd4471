"""The risk engine: plain numpy/scipy Monte Carlo and analytic models. No gRPC, NATS or DB."""
