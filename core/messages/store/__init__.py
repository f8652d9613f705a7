"""The messages' SQL: their tables, the outbox's claims and outcomes, what a message shows, consents, suppressions."""
