"""Messages: what the flows send, made and delivered.

``compose`` turns an outbox row into a message (sandboxed Jinja templates,
MJML rendered to responsive HTML, a plain-text part, tracked links and the
unsubscribe headers); ``delivery`` claims due rows, re-checks consent and
suppressions, sends through the tenant's transport (``transports``: SMTP,
``.eml`` files, Twilio SMS) and records the outcome; ``preferences`` records
unsubscribes, opt-ins and STOP replies as proof of consent; ``settings``
validates a tenant's ``messages`` section.
"""
