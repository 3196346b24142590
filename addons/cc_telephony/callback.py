"""Callbacks (TEL-51, TEL-55): callers who accepted a callback offer while
every agent was busy (or left a voicemail, when the queue asks for it) are
called back by the next ready agent of their queue.

A request is created when the call's facts are ingested, once per call. A
cron task (``cc.callback|dispatch``, every minute) gives each due request
to the longest-idle ready member of its queue, through the console's
click-to-dial (``cc.agent.dial``: the agent's phone first, then the
customer). The Originate's ChannelId becomes the Uniqueid (and Linkedid)
of the outbound call, so the call fact the bridge stores for it is found
exactly: answered, the callback is done; otherwise it is tried again after
the queue's delay, up to its number of attempts.
"""
import datetime as dt
import logging
import re

from sql import Null
from sql.operators import Equal

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    Exclude, Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

logger = logging.getLogger(__name__)

STATES = [
    ('pending', "Pending"),
    ('dialing', "Dialing"),
    ('done', "Done"),
    ('failed', "Failed"),
    ('cancelled', "Cancelled"),
    ]
ORIGINS = [
    ('offer', "Callback Offer Accepted"),
    ('voicemail', "Voicemail"),
    ('manual', "Entered by Hand"),
    ]
DEFAULT_ATTEMPTS = 3
DEFAULT_DELAY_MINUTES = 10
# A dialing attempt whose call never shows up counts as not answered after
# this long, even when the PBX cannot be asked whether its channel is up.
STALE_DIALING = dt.timedelta(minutes=30)
# Before this long, an attempt without a call record is not looked for on
# the PBX (the agent's phone and the customer's may still be ringing).
DIAL_GRACE = dt.timedelta(minutes=2)
# The key a caller presses to accept the offer ([cc-route] callback, and
# the first choice of [cc-route] choice).
ACCEPT_KEY = '1'
# The routing actions whose caller is offered a callback, and those whose
# call may ask for one (a message left when every agent was busy too).
OFFERING_ACTIONS = ('callback', 'choice')
REQUESTING_ACTIONS = OFFERING_ACTIONS + ('voicemail',)
ANSWERED_RESULTS = {'answered', 'transferred'}


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def accepted_offer(ivr_path):
    """Whether the IVR path ends with the accepted offer: the dialplan
    appends ``callback/<key>`` (``t`` for no key) to CC_IVR_PATH, or
    ``choice/<key>`` in the menu of a caller told a long wait (TEL-50),
    whose key for a callback is the same."""
    steps = [s for s in re.split(r'[/>]', ivr_path or '') if s]
    return steps[-2:] in (['callback', ACCEPT_KEY], ['choice', ACCEPT_KEY])


class Queue(metaclass=PoolMeta):
    __name__ = 'cc.queue'
    callback_attempts = fields.Integer(
        "Callback Attempts",
        help="How many times a caller who asked for a callback is called "
        "before the callback fails.")
    callback_delay = fields.Integer(
        "Callback Retry Delay",
        help="Minutes between two callback attempts.")
    callback_voicemail = fields.Boolean(
        "Call Back Voicemails",
        help="Callers who leave a voicemail because every agent is busy "
        "are called back.")

    @classmethod
    def default_callback_attempts(cls):
        return DEFAULT_ATTEMPTS

    @classmethod
    def default_callback_delay(cls):
        return DEFAULT_DELAY_MINUTES

    @classmethod
    def default_callback_voicemail(cls):
        return False

    @property
    def callback_max_attempts(self):
        if self.callback_attempts is None:
            return DEFAULT_ATTEMPTS
        return self.callback_attempts

    @property
    def callback_retry_delay(self):
        minutes = self.callback_delay
        if minutes is None:
            minutes = DEFAULT_DELAY_MINUTES
        return dt.timedelta(minutes=minutes)

    @classmethod
    def validate_fields(cls, queues, field_names):
        super().validate_fields(queues, field_names)
        for queue in queues:
            for name, low in [('callback_attempts', 1),
                    ('callback_delay', 0)]:
                value = getattr(queue, name)
                if value is not None and value < low:
                    raise ValidationError(gettext(
                            'cc_telephony.msg_callback_queue_setting',
                            queue=queue.rec_name,
                            field=cls.__names__(name)['field'],
                            minimum=low))


class Callback(Workflow, ModelSQL, ModelView):
    "Callback"
    __name__ = 'cc.callback'
    __string__ = "Callback"
    _rec_name = 'number'
    _readonly = Eval('state').in_(['dialing', 'done'])

    number = fields.Char(
        "Number", required=True, states={'readonly': _readonly},
        help="The number to call back, normalised to E.164 when valid.")
    region = fields.Char("Region", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", ondelete='SET NULL',
        states={'readonly': _readonly},
        help="Set when exactly one customer has the number.")
    queue = fields.Many2One(
        'cc.queue', "Queue", ondelete='SET NULL',
        states={'readonly': _readonly},
        help="Its ready members call back; empty: any ready agent.")
    origin = fields.Selection(ORIGINS, "Origin", readonly=True)
    call = fields.Many2One(
        'cc.call', "Call", readonly=True, ondelete='SET NULL',
        help="The call in which the caller asked for the callback.")
    recording = fields.Char(
        "Recording", readonly=True, help="The voicemail left, if any.")
    issue = fields.Text("Issue", states={'readonly': _readonly})
    requested_at = fields.DateTime(
        "Requested At", required=True, readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    attempts = fields.Integer("Attempts", readonly=True)
    last_attempt = fields.DateTime("Last Attempt", readonly=True)
    next_attempt = fields.DateTime(
        "Next Attempt", states={'readonly': _readonly},
        help="Not called back before; empty: as soon as an agent is ready.")
    note = fields.Text("Result", readonly=True)
    agent = fields.Many2One(
        'cc.agent', "Agent", readonly=True, ondelete='SET NULL',
        help="The agent who called back (or is calling back).")
    dial_id = fields.Char(
        "Dial ID", readonly=True,
        help="ChannelId of the last attempt's Originate: the Uniqueid of "
        "the callback call.")
    callback_call = fields.Many2One(
        'cc.call', "Callback Call", readonly=True, ondelete='SET NULL')
    del _readonly

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('call_unique', Unique(t, t.call),
                'cc_telephony.msg_callback_call_unique'),
            # An agent is offered one callback at a time.
            ('agent_dialing_exclude', Exclude(t, (t.agent, Equal),
                    where=t.state == 'dialing'),
                'cc_telephony.msg_callback_agent_dialing'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality()),
                    (t.next_attempt, Index.Range())),
                Index(t, (t.dial_id, Index.Equality()),
                    where=t.dial_id != Null),
                })
        cls._order = [('requested_at', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('pending', 'dialing'),
            ('pending', 'cancelled'),
            ('dialing', 'pending'),
            ('dialing', 'done'),
            ('dialing', 'failed'),
            ('dialing', 'cancelled'),
            ('failed', 'pending'),
            ('cancelled', 'pending'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': ~Eval('state').in_(['pending', 'dialing']),
                    'depends': ['state'],
                    'icon': 'tryton-cancel',
                    },
                'retry': {
                    'invisible': ~Eval('state').in_(['failed', 'cancelled']),
                    'depends': ['state'],
                    'icon': 'tryton-refresh',
                    },
                })

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_origin(cls):
        return 'manual'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_requested_at(cls):
        return utcnow()

    # -- numbers ------------------------------------------------------------

    @classmethod
    def normalise(cls, number):
        """(E.164 or the number as typed, region, the customer when exactly
        one has it) — as calls match their callers (cc.caller)."""
        Caller = Pool().get('cc.caller')
        parsed = Caller.parse(number or '')
        if parsed.e164 and parsed.valid:
            value = parsed.e164
        else:
            value = (number or '').strip()
        parties = [row[0] for row in Caller.match_parties(parsed.key)]
        return value, parsed.region, parties[0] if len(parties) == 1 else None

    @classmethod
    def _number_values(cls, values):
        values = values.copy()
        if values.get('number'):
            number, region, party = cls.normalise(values['number'])
            values['number'], values['region'] = number, region
            if 'party' not in values:
                values['party'] = party
        return values

    @classmethod
    def create(cls, vlist):
        return super().create([cls._number_values(v) for v in vlist])

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        args = []
        for records, values in zip(actions, actions):
            args.extend((records, cls._number_values(values)))
        super().write(*args)

    @classmethod
    def validate_fields(cls, callbacks, field_names):
        super().validate_fields(callbacks, field_names)
        if field_names and not ({'number', 'state'} & set(field_names)):
            return
        for callback in callbacks:
            if (callback.state in {'pending', 'dialing'}
                    and not cls.dialable(callback.number)):
                raise ValidationError(gettext(
                        'cc_telephony.msg_callback_invalid_number',
                        number=callback.number))

    @classmethod
    def dialable(cls, number):
        "Whether the console's click-to-dial would dial ``number``."
        Agent = Pool().get('cc.agent')
        try:
            Agent._dial_number(number)
        except UserError:
            return False
        return True

    # -- workflow -----------------------------------------------------------

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, callbacks):
        cls.write(callbacks, {'dial_id': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('pending')
    def retry(cls, callbacks):
        "Call back again, with the queue's attempts anew."
        cls.write(callbacks, {'attempts': 0, 'next_attempt': None,
                'dial_id': None})

    # -- creation from calls ------------------------------------------------

    @classmethod
    def wanted(cls, call):
        "Whether the ended ``call`` asks for a callback, and why."
        if call.state != 'ended' or call.direction != 'inbound':
            return None
        if (call.routing_action in OFFERING_ACTIONS
                and accepted_offer(call.ivr_path)):
            return 'offer'
        queue = cls._call_queue(call)
        if (call.result == 'voicemail'
                and call.routing_action in ('voicemail', 'choice')
                and 'busy' in (call.routing_reason or '').split(',')
                and queue and queue.callback_voicemail):
            return 'voicemail'
        return None

    @classmethod
    def _call_queue(cls, call):
        "The queue the caller was routed to (an offer never joins it)."
        Queue = Pool().get('cc.queue')
        if call.queue:
            return call.queue
        if call.routing_queue:
            queue_id = Queue.by_codes([call.routing_queue]).get(
                call.routing_queue)
            if queue_id:
                return Queue(queue_id)
        return None

    @classmethod
    def request_from_calls(cls, call_ids):
        """Create one pending callback per ended call that asks for one
        (idempotent: a call already having its callback gets no other)."""
        pool = Pool()
        Call = pool.get('cc.call')
        with without_check_access():
            calls = Call.search([
                    ('id', 'in', list(call_ids)),
                    ('state', '=', 'ended'),
                    ('direction', '=', 'inbound'),
                    ('routing_action', 'in', list(REQUESTING_ACTIONS)),
                    ])
            if not calls:
                return []
            known = {c.call.id for c in cls.search(
                    [('call', 'in', [c.id for c in calls])])}
            vlist = []
            for call in calls:
                origin = cls.wanted(call)
                if not origin or call.id in known:
                    continue
                number = call.caller_number or call.caller_raw
                if not number:
                    continue
                queue = cls._call_queue(call)
                values = {
                    'number': number,
                    'queue': queue.id if queue else None,
                    'origin': origin,
                    'call': call.id,
                    'recording': call.recording,
                    'requested_at': call.end_time or call.enter_time
                    or utcnow(),
                    }
                if call.party:
                    values['party'] = call.party.id
                if not cls.dialable(number):
                    # Kept for the supervisors, never dialled; refusing it
                    # would refuse the bridge's whole batch of facts.
                    values.update(state='failed', note=gettext(
                            'cc_telephony.msg_callback_invalid_number',
                            number=number))
                vlist.append(values)
            return cls.create(vlist) if vlist else []

    # -- dispatch -----------------------------------------------------------

    @classmethod
    def dispatch(cls):
        """Cron: settle the attempts whose calls came in, then give each due
        callback (oldest first) to the longest-idle ready member of its
        queue who has no callback in progress. Returns the callbacks
        dialled.

        The attempts are committed (dialing, counted, with their agent and
        ChannelId) before any Originate is sent: an Originate the PBX took
        cannot be taken back, so a commit failing after it would dial the
        customer again at the next run. An Originate refused, or failing
        for any other reason, is recorded in a transaction of its own and
        the next attempts are dialled all the same."""
        transaction = Transaction()
        with without_check_access():
            cls.settle_dialing()
            attempts = cls._claim(utcnow())
        transaction.commit()
        with without_check_access():
            for callback, agent in attempts:
                cls(callback.id)._dial(agent)
        return [cls(callback.id) for callback, _ in attempts]

    @classmethod
    def _claim(cls, now):
        "[(callback, agent)]: the due callbacks, each written as dialing."
        pool = Pool()
        Agent = pool.get('cc.agent')
        due = cls.search([
                ('state', '=', 'pending'),
                ['OR',
                    ('next_attempt', '=', None),
                    ('next_attempt', '<=', now),
                    ],
                ], order=[('next_attempt', 'ASC NULLS FIRST'),
                ('requested_at', 'ASC'), ('id', 'ASC')])
        if not due:
            return []
        busy = {c.agent.id for c in cls.search(
                [('state', '=', 'dialing'), ('agent', '!=', None)])}
        ready = Agent.search([
                ('state', '=', 'ready'),
                ('id', 'not in', list(busy)),
                ], order=[('state_since', 'ASC NULLS FIRST'), ('id', 'ASC')])
        attempts = []
        for callback in due:
            agent = callback._pick_agent(ready)
            if agent is None:
                continue
            ready.remove(agent)
            cls.write([callback], {
                    'state': 'dialing',
                    'agent': agent.id,
                    'attempts': (callback.attempts or 0) + 1,
                    'last_attempt': now,
                    'dial_id': agent.new_dial_id(),
                    'note': None,
                    })
            attempts.append((callback, agent))
            if not ready:
                break
        return attempts

    def _pick_agent(self, ready):
        "The first (longest idle) of ``ready`` who answers this queue."
        for agent in ready:
            if self.queue is None or any(
                    m.queue.id == self.queue.id for m in agent.memberships):
                return agent
        return None

    def _dial(self, agent):
        """Send the committed attempt's Originate; a refusal (or a PBX out
        of reach), or any unexpected error, ends the attempt at once,
        committed."""
        Agent = Pool().get('cc.agent')
        transaction = Transaction()
        try:
            agent.originate(Agent._dial_number(self.number), self.dial_id)
            return
        except UserError as error:
            # No call carries the ChannelId: nothing to settle it from.
            self._not_reached(utcnow(), error.message, dial_id=None)
        except Exception as error:
            logger.exception('callback %s: Originate %s (agent %s) failed',
                self.id, self.dial_id, agent.id)
            # The error may have broken the transaction (PostgreSQL refuses
            # any statement after a failed one); it holds nothing else.
            transaction.rollback()
            # Whether the PBX took the Originate is unknown: the ChannelId
            # stays, so that a call recorded for it still settles it.
            self._not_reached(utcnow(), gettext(
                    'cc_telephony.msg_callback_dial_failed',
                    agent=agent.rec_name,
                    error=f'{type(error).__name__}: {error}'))
        transaction.commit()

    def _not_reached(self, when, note, **values):
        """The attempt did not reach the customer: again later, or failed
        (``values``: more to write)."""
        queue = self.queue
        attempts = queue.callback_max_attempts if queue else DEFAULT_ATTEMPTS
        delay = (queue.callback_retry_delay if queue
            else dt.timedelta(minutes=DEFAULT_DELAY_MINUTES))
        values['note'] = note
        if (self.attempts or 0) >= attempts:
            values['state'] = 'failed'
        else:
            values.update(state='pending', next_attempt=when + delay)
        self.__class__.write([self], values)

    @classmethod
    def settle_dialing(cls, call_ids=None):
        """Settle the attempts whose call is recorded: its Uniqueid (or
        Linkedid) is the Originate's ChannelId. With ``call_ids`` (calls
        just stored) only theirs; without (the cron), every attempt being
        dialled, and those whose call is gone from the PBX without a record
        or never came."""
        pool = Pool()
        Call = pool.get('cc.call')
        if call_ids is not None:
            calls = Call.search([('id', 'in', list(call_ids)),
                    ('state', '=', 'ended'), ('direction', '!=', 'inbound')])
            keys = {c.uniqueid for c in calls} | {
                c.linkedid for c in calls if c.linkedid}
            # An attempt already judged lost may still have been answered.
            callbacks = cls.search([('dial_id', 'in', list(keys)),
                    ('state', 'in', ['dialing', 'pending', 'failed'])],
                ) if keys else []
        else:
            callbacks = cls.search([('state', '=', 'dialing')])
            keys = [c.dial_id for c in callbacks if c.dial_id]
            calls = Call.search([('state', '=', 'ended'), ['OR',
                        ('uniqueid', 'in', keys),
                        ('linkedid', 'in', keys),
                        ]]) if keys else []
        by_id = {c.dial_id: c for c in callbacks}
        settled = set()
        for call in sorted(calls, key=lambda c: c.id):
            callback = by_id.get(call.uniqueid) or by_id.get(call.linkedid)
            if callback is None or callback.id in settled:
                continue
            settled.add(callback.id)
            callback._settle(call)
        if call_ids is None:
            cls._settle_lost(
                [c for c in callbacks if c.id not in settled], utcnow())

    @classmethod
    def _settle_lost(cls, callbacks, now):
        """Attempts without a call record: after DIAL_GRACE, lost when the
        PBX no longer has their channel; after STALE_DIALING in any case
        (the PBX could not be asked)."""
        for callback in callbacks:
            if not callback.last_attempt:
                continue
            age = now - callback.last_attempt
            if age < DIAL_GRACE:
                continue
            lost = age >= STALE_DIALING
            if not lost and callback.dial_id and callback.agent:
                lost = callback._channel_up() is False
            if lost:
                callback._not_reached(now, gettext(
                        'cc_telephony.msg_callback_no_call'))

    def _channel_up(self):
        """Whether the PBX still has the attempt's channel (None: the PBX
        cannot be asked), through the console's channel list."""
        try:
            channels = self.agent._channels()
        except UserError:
            return None
        return any(self.dial_id in (c.get('Uniqueid'), c.get('Linkedid'))
            for c in channels)

    def _settle(self, call):
        answered = bool(call.answer_time) or call.result in ANSWERED_RESULTS
        if answered:
            self.__class__.write([self], {
                    'state': 'done',
                    'callback_call': call.id,
                    'note': gettext('cc_telephony.msg_callback_answered'),
                    })
        elif self.state == 'dialing':
            self.__class__.write([self], {'callback_call': call.id})
            self._not_reached(call.end_time or utcnow(), gettext(
                    'cc_telephony.msg_callback_not_answered',
                    result=call.result_string or call.result or '-'))


class Call(metaclass=PoolMeta):
    __name__ = 'cc.call'

    @classmethod
    def ingest_facts(cls, facts, pbx=None):
        """Ended calls that accepted a callback offer ask for a callback;
        callback calls settle their callback."""
        Callback = Pool().get('cc.callback')
        call_ids = super().ingest_facts(facts, pbx=pbx)
        with without_check_access():
            Callback.request_from_calls(call_ids)
            Callback.settle_dialing(call_ids)
        return call_ids

    @classmethod
    def record_decisions(cls, decisions, pbx=None):
        """A decision stored after its call's fact (the router's writer
        lagging) still gives the callback the caller asked for."""
        Callback = Pool().get('cc.callback')
        super().record_decisions(decisions, pbx=pbx)
        uniqueids = [d['uniqueid'] for d in decisions
            if d.get('action') in REQUESTING_ACTIONS]
        if uniqueids:
            with without_check_access():
                calls = cls.search([('uniqueid', 'in', uniqueids),
                        ('state', '=', 'ended')])
                if calls:
                    Callback.request_from_calls([c.id for c in calls])


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('cc.callback|dispatch', "Dispatch Callbacks"))
