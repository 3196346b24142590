"""Announcements: recorded notices callers hear before they are queued.

Supervisors publish an urgent notice (an outage in a region), a service
message, a promotion, a holiday greeting or a new product for a time window,
on some dialled numbers and queues, for callers of some regions. The router
(routing.py) plays the one in force for each call instead of the service's
or queue's fixed announcement.
"""
import re

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.model.exceptions import ValidationError

from .router import utcnow

KINDS = [
    ('urgent', "Urgent Notice"),
    ('message', "Service Message"),
    ('promotion', "Promotion"),
    ('holiday', "Holiday Greeting"),
    ('product', "New Product"),
    ]
# What Playback() takes as its argument: sound file names (several joined
# with "&"); anything else (",", "(", "$" …) would change the dialplan's
# application call.
PROMPT = re.compile(r'[\w./-]+(&[\w./-]+)*', re.ASCII)
# Regions are written as a list: commas (also the Chinese one), semicolons
# or spaces between them.
REGION_SEPARATORS = re.compile(r'[,，;；\s]+')


class Announcement(
        sequence_ordered(), DeactivableMixin, ModelSQL, ModelView):
    "Announcement"
    __name__ = 'cc.announcement'
    __string__ = "Announcement"
    name = fields.Char("Name", required=True)
    kind = fields.Selection(
        KINDS, "Kind", required=True,
        help="Urgent notices are played before any other announcement.")
    prompt = fields.Char(
        "Prompt", required=True,
        help="Asterisk sound file played to the caller before queueing "
        "(several joined with \"&\").")
    valid_from = fields.DateTime("Valid From", required=True)
    valid_to = fields.DateTime(
        "Valid To", required=True,
        help="The announcement stops at this moment.")
    services = fields.Many2Many(
        'cc.announcement-cc.dnis', 'announcement', 'dnis', "Dialled Numbers",
        help="Played to callers of these numbers; empty: every number.")
    queues = fields.Many2Many(
        'cc.announcement-cc.queue', 'announcement', 'queue', "Queues",
        help="Played to callers queued in these queues; empty: every queue.")
    regions = fields.Char(
        "Caller Regions",
        help="Played only to callers whose number comes from one of these "
        "regions, separated by commas: a province (广东省) or a province and "
        "city (广东省深圳市), as the call record's caller region shows them. "
        "Empty: every caller.")
    in_force = fields.Function(fields.Boolean("In Force"), 'get_in_force')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.append(('valid_from', 'DESC'))

    @classmethod
    def default_kind(cls):
        return 'message'

    @classmethod
    def default_valid_from(cls):
        return utcnow().replace(microsecond=0)

    def get_in_force(self, name):
        return bool(self.active
            and self.valid_from <= utcnow() < self.valid_to)

    def region_list(self):
        return tuple(r for r in REGION_SEPARATORS.split(self.regions or '')
            if r)

    @classmethod
    def validate_fields(cls, announcements, field_names):
        super().validate_fields(announcements, field_names)
        for announcement in announcements:
            if announcement.prompt and not PROMPT.fullmatch(
                    announcement.prompt):
                raise ValidationError(gettext(
                        'cc_telephony.msg_announcement_prompt',
                        announcement=announcement.rec_name,
                        prompt=announcement.prompt))
            if (announcement.valid_from and announcement.valid_to
                    and announcement.valid_to <= announcement.valid_from):
                raise ValidationError(gettext(
                        'cc_telephony.msg_announcement_window',
                        announcement=announcement.rec_name))

    @classmethod
    def routing_snapshot(cls):
        """routing.Announcement of every active announcement that has not
        ended: the router checks each of them at every call. Future ones
        are included because the router decides which is in force at the
        moment of each call, so a window opens or closes without a change
        of configuration; one that ends stays in the snapshot until the
        next reload but is no longer played."""
        from .routing import Announcement as RoutingAnnouncement
        return tuple(RoutingAnnouncement(
                name=a.name, kind=a.kind, prompt=a.prompt,
                valid_from=a.valid_from, valid_to=a.valid_to,
                sequence=a.sequence or 0,
                services=frozenset(d.number for d in a.services),
                queues=frozenset(q.code for q in a.queues),
                regions=a.region_list())
            for a in cls.search([('valid_to', '>', utcnow())]))


class AnnouncementDnis(ModelSQL):
    "Announcement - Dialled Number"
    __name__ = 'cc.announcement-cc.dnis'
    __string__ = "Announcement - Dialled Number"
    announcement = fields.Many2One(
        'cc.announcement', "Announcement", required=True, ondelete='CASCADE')
    dnis = fields.Many2One(
        'cc.dnis', "Dialled Number", required=True, ondelete='CASCADE')


class AnnouncementQueue(ModelSQL):
    "Announcement - Queue"
    __name__ = 'cc.announcement-cc.queue'
    __string__ = "Announcement - Queue"
    announcement = fields.Many2One(
        'cc.announcement', "Announcement", required=True, ondelete='CASCADE')
    queue = fields.Many2One(
        'cc.queue', "Queue", required=True, ondelete='CASCADE')
