"""CloudEvents, the outbox relay, publishers and the SSE hub."""
