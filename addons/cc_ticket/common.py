"""Pieces shared by the workflow models of the module."""
from trytond.pyson import Eval


def visible_in(*states):
    """Button states showing a workflow button only while the record is in
    one of ``states`` (the buttons of tickets, dispatches, compensations and
    follow-ups all follow this rule)."""
    return {
        'invisible': ~Eval('state').in_(list(states)),
        'depends': ['state'],
        }
