"""Speaking Mooncake Transfer Engine's handshake, to test a real engine's re-establishment.

wire/messages: the framing and JSON of its handshake port; peer: an rdmacheck peer that follows
its rules over rdmacheck's verbs layer; driver: the line protocol the orchestrator speaks to a
side (rdmacheck's or the real engine's); probe/segments: operator commands.
"""
