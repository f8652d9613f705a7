"""Messages: what the flows send, made and sent.

``compose`` turns an outbox row into a message (sandboxed Jinja templates,
MJML rendered to responsive HTML, a plain-text part, tracked links and the
unsubscribe headers); ``sending`` claims due rows, re-checks consent and
suppressions, sends through the transport it is handed (the top-level
``transports`` package: SMTP, ``.eml`` files, Twilio SMS) and records the
outcome; ``preferences`` records
unsubscribes, opt-ins and STOP replies as proof of consent; ``settings``
validates a tenant's ``messages`` section.
"""
