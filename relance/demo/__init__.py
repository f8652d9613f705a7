"""The demo: the sample shop, the fake shops, and the demo's sections."""
