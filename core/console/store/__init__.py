"""The console's SQL: users, sessions, audit log, contact erasures, the pages' figures."""
