"""Telephony: PBX link, ACD routing, agents, queues and call records."""
