"""DataHub metadata: pure builders (catalog and run metadata), a durable outbox, and sinks."""
