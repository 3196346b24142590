"""Telephony: PBX link, ACD routing, agents, queues and call records."""
# HTTP routes are registered when trytond imports the module.
from . import routes

__all__ = ['routes']
