"""DataHub metadata: URNs and builders (pure), then the outbox, delivery and sinks that send it."""
