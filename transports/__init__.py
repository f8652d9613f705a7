"""Transports: where composed messages leave Relance (SMTP, ``.eml`` files, Twilio SMS).

The I/O edge of messages, outside the core: ``core.messages.sending`` is
handed its transports (``TransportProvider``) and never builds one.
``registry`` picks each tenant's from its settings; ``smtp``, ``files`` and
``twilio`` implement the core's ``EmailTransport`` / ``SmsTransport``
protocols. A transport raises ``TemporarySendError`` (retry later),
``BouncedError`` (the address is refused for good: suppress it),
``UnknownOutcomeError`` (maybe sent: never retry) or ``PermanentSendError``
(anything else retrying cannot fix).
"""
