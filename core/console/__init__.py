"""The console's core: accounts (users, roles, passwords), sessions, the audit log, what its pages show."""
