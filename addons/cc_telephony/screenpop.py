"""Screen pop: when a call connects to an agent, the agent's web client
opens the caller's customer 360, a chooser or a new-customer form.

The bridge calls ``on_bridge_event`` for every AMI event; when an agent's
leg connects (AgentConnect, or the agent's phone answering a transfer or a
consultation) it stores the connection through ``cc.call.agent_connected``
(also exposed over RPC), which keeps the live call record right and
publishes the pop with ``publish_pops``. See doc/screenpop.rst for the
delivery paths (bus on PostgreSQL, polling on SQLite) and what happens with
several tabs or an agent who is not logged in.
"""
import asyncio
import datetime as dt
import json
import logging
import time

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import PYSONEncoder
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access

from .call import is_call_race

logger = logging.getLogger(__name__)


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

# A pop is worth showing only while the call is likely still ringing or
# just answered; the bus replays cached messages at every client (re)login.
POP_SECONDS = 30
# Pops kept for the polling clients and as a trace.
KEEP_SECONDS = 3600


def pop_message(call_values):
    "The bus message of a pop (see doc/screenpop.rst for its keys)."
    message = {
        'type': 'cc_screen_pop',
        'expires': int(time.time()) + POP_SECONDS,
        'model': 'party.party',
        'call_id': call_values['call_id'],
        'number': call_values.get('number'),
        'ivr_path': call_values.get('ivr_path'),
        'wait_seconds': call_values.get('wait_seconds'),
        'queue': call_values.get('queue'),
        }
    candidates = call_values.get('candidates') or []
    if call_values.get('party'):
        message['res_id'] = call_values['party']
    elif len(candidates) > 1:
        message['candidates'] = list(candidates)
    else:
        message['new_number'] = call_values.get('number') or ''
    return message


def publish_pops(pops):
    """Send screen pops, in the current transaction: ``pops`` is a list of
    (user id, call values); return their messages.

    ``call_values``: call_id, party (the one match, or None), candidates
    (party ids), number, ivr_path, wait_seconds, queue (name). The bus
    messages go out at commit (PostgreSQL NOTIFY is transactional); the
    cc.screen.pop rows serve clients that poll (SQLite has no channels)
    and the res.notification stays for an agent who was not looking."""
    pool = Pool()
    ScreenPop = pool.get('cc.screen.pop')
    Notification = pool.get('res.notification')
    messages = [pop_message(values) for _, values in pops]
    with without_check_access():
        notifications = Notification.create([
                _notification_values(user_id, message)
                for (user_id, _), message in zip(pops, messages)])
        rows = ScreenPop.create([{
                    'user': user_id,
                    'call': values['call_id'],
                    'message': json.dumps(message),
                    'expires': dt.datetime.fromtimestamp(
                        message['expires'], dt.timezone.utc).replace(
                        tzinfo=None),
                    'notification': notification.id,
                    } for (user_id, values), message, notification in zip(
                    pops, messages, notifications)])
    # Imported here: trytond.bus picks its class from the configuration,
    # which the bridge loads after importing this module.
    from trytond.bus import Bus
    for (user_id, _), message, row in zip(pops, messages, rows):
        # The row id lets a client that gets both the bus message and the
        # polled row show the pop once.
        message['pop_id'] = row.id
        Bus.publish(f'user:{user_id}', message)
    return messages


def _notification_values(user_id, message):
    "A res.notification that opens what the pop opens."
    ModelData = Pool().get('ir.model.data')
    label = gettext('cc_telephony.msg_screen_pop_label',
        number=message.get('number') or '?')
    parts = []
    if message.get('queue'):
        parts.append(message['queue'])
    if message.get('ivr_path'):
        parts.append(gettext('cc_telephony.msg_screen_pop_ivr',
                path=message['ivr_path']))
    if message.get('wait_seconds') is not None:
        parts.append(gettext('cc_telephony.msg_screen_pop_wait',
                seconds=int(message['wait_seconds'])))
    values = {'user': user_id, 'label': label,
        'description': ' · '.join(parts), 'icon': 'tryton-party'}
    if message.get('res_id'):
        values.update(model='party.party',
            records=json.dumps([message['res_id']]))
    elif message.get('candidates'):
        values.update(model='party.party',
            records=json.dumps(message['candidates']))
    else:
        # A new customer with the caller's number filled in.
        values.update(action=ModelData.get_id('party', 'act_party_form'),
            action_value=json.dumps({
                    'pyson_context': PYSONEncoder().encode(
                        {'cc_new_number': message.get('new_number')}),
                    }))
    return values


class ScreenPop(ModelSQL):
    "Screen Pop"
    __name__ = 'cc.screen.pop'
    __string__ = "Screen Pop"
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')
    call = fields.Many2One('cc.call', "Call", ondelete='CASCADE')
    message = fields.Text("Message", required=True)
    expires = fields.DateTime("Expires", required=True)
    notification = fields.Many2One(
        'res.notification', "Notification", ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.user, Index.Equality()), (t.id, Index.Range())))
        cls.__rpc__.update({
                'mode': RPC(),
                'poll': RPC(),
                })

    @classmethod
    def mode(cls):
        "'bus' when the database has channels, else 'poll' (SQLite)."
        return 'bus' if Transaction().database.has_channel() else 'poll'

    @classmethod
    def poll(cls, last_id=None):
        """Pops of the current user after ``last_id`` that have not
        expired: {'last_id', 'messages'}. Without ``last_id`` only the
        current last id is returned, so a new session replays nothing."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        user = Transaction().user
        if last_id is None:
            cursor.execute(*table.select(table.id,
                    where=table.user == user,
                    order_by=[table.id.desc], limit=1))
            row = cursor.fetchone()
            return {'last_id': row[0] if row else 0, 'messages': []}
        cursor.execute(*table.select(table.id, table.message,
                where=(table.user == user) & (table.id > int(last_id))
                & (table.expires > utcnow()),
                order_by=[table.id.asc]))
        messages = []
        for pop_id, text in cursor:
            message = json.loads(text)
            message['pop_id'] = pop_id
            messages.append(message)
            last_id = pop_id
        return {'last_id': last_id, 'messages': messages}

    @classmethod
    def clean(cls):
        "Drop pops older than KEEP_SECONDS (their notifications stay)."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.delete(where=table.expires < (
                    utcnow() - dt.timedelta(seconds=KEEP_SECONDS))))


class Call(metaclass=PoolMeta):
    __name__ = 'cc.call'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'agent_connected': RPC(readonly=False),
                })

    @classmethod
    def agent_connected(cls, connections, pbx=None):
        """Record that calls connected to agents and pop their screens.

        Each connection is a dict with uniqueid, linkedid, direction,
        caller_raw, dnis, enter_time, queue (code), interface (of the
        agent), answer_time, wait_seconds and ivr_path. The live call is
        created (or completed) here so that it is right whether or not the
        agent is logged in; the tracker's final fact completes it later
        through ingest_facts. Returns the call ids."""
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        ModelAccess.check(cls.__name__, 'create')
        with without_check_access():
            return cls._agent_connected(connections, pbx)

    @classmethod
    def _agent_connected(cls, connections, pbx):
        pool = Pool()
        Agent = pool.get('cc.agent')
        Queue = pool.get('cc.queue')
        ScreenPop = pool.get('cc.screen.pop')
        agents = Agent.by_interface(c['interface'] for c in connections)
        queues = Queue.by_codes(c.get('queue') for c in connections)
        # The router and the bridge may be creating the same call now.
        cls.lock_calls()
        calls, fresh = cls._store_connections(connections, agents, queues,
            pbx)
        pops = []
        for call, connection, is_fresh in zip(calls, connections, fresh):
            if not is_fresh:
                # The same connection seen again: the agent has had it.
                continue
            agent_id = agents.get(connection['interface'])
            user = Agent(agent_id).user if agent_id else None
            if user:
                pops.append((user.id, call._screen_pop_values()))
            else:
                logger.info('no user to pop call %s to (%s)', call.id,
                    connection['interface'])
        if pops:
            publish_pops(pops)
        ScreenPop.clean()
        return [c.id for c in calls]

    @classmethod
    def _store_connections(cls, connections, agents, queues, pbx):
        """Create the live calls or bring the known ones up to date, the new
        ones in one create; return the calls and, for each connection,
        whether it is new (a new call, or a new agent on it)."""
        existing = cls._by_uniqueid({c['uniqueid'] for c in connections})
        keys, fresh, to_create = [], [], {}
        for connection in connections:
            uniqueid = connection['uniqueid']
            values = cls._connection_values(connection, agents, queues)
            if uniqueid in to_create:
                # Connected twice in one batch (a quick transfer): the call
                # must exist before the second agent is put on it.
                existing.update(cls._create_connected(to_create, pbx))
                to_create = {}
            call = existing.get(uniqueid)
            if call is None:
                to_create[uniqueid] = (connection, values)
                fresh.append(True)
            else:
                fresh.append(cls._update_connected(call, values))
            keys.append(uniqueid)
        existing.update(cls._create_connected(to_create, pbx))
        return [existing[k] for k in keys], fresh

    @classmethod
    def _create_connected(cls, to_create, pbx):
        "Create the calls of {uniqueid: (connection, values)}, by uniqueid."
        if not to_create:
            return {}
        for connection, values in to_create.values():
            direction = connection.get('direction') or 'inbound'
            values.update(cls._caller_values(connection.get('caller_raw'),
                    connection.get('dnis'), direction))
            values.update({
                    'uniqueid': connection['uniqueid'],
                    'linkedid': connection.get('linkedid')
                    or connection['uniqueid'],
                    'direction': direction,
                    'dnis': connection.get('dnis') or None,
                    'enter_time': connection.get('enter_time'),
                    'pbx': pbx,
                    })
        calls = cls.create([values for _, values in to_create.values()])
        return {c.uniqueid: c for c in calls}

    @classmethod
    def _connection_values(cls, connection, agents, queues):
        Queue = Pool().get('cc.queue')
        queue_id = queues.get(connection.get('queue'))
        wait = float(connection.get('wait_seconds') or 0)
        return {
            'within_service_level': bool(queue_id) and (
                wait <= Queue(queue_id).service_level_seconds),
            'agent': agents.get(connection['interface']),
            'answer_time': connection.get('answer_time'),
            'queue': queue_id,
            'queue_code': connection.get('queue') or None,
            'ivr_path': connection.get('ivr_path') or None,
            'wait_seconds': wait,
            }

    @classmethod
    def _update_connected(cls, call, values):
        "Bring a known call up to date; return whether its agent is new."
        from .call import changed_values
        fresh = call.agent is None or call.agent.id != values['agent']
        if call.answer_time:
            # A transfer target connects later: the call was answered at
            # the first connection, and the figures of the first wait stay.
            for name in ('answer_time', 'wait_seconds', 'queue',
                    'queue_code', 'within_service_level'):
                values.pop(name)
        for name in ('ivr_path', 'queue', 'queue_code'):
            if name in values and not values[name]:
                del values[name]
        values = changed_values(call, values)
        if values:
            cls.write([call], values)
        return fresh

    def _screen_pop_values(self):
        return {
            'call_id': self.id,
            'party': self.party.id if self.party else None,
            'candidates': [p.id for p in self.candidates],
            'number': self.caller_number or self.caller_raw,
            'ivr_path': self.ivr_path,
            'wait_seconds': self.wait_seconds,
            'queue': self.queue.rec_name if self.queue else None,
            }


# -- bridge side -----------------------------------------------------------

def on_bridge_event(link, event):
    """Called by the bridge for each AMI event once the tracker has it:
    when an agent's leg connects, store the connection at once (not at the
    next flush) so that the pop reaches the agent while the call is fresh.

    A queue leg connects at AgentConnect. An agent reached without the
    queue (a blind or attended transfer to their extension, a consult)
    connects when the tracker sees their phone answer: DialEnd ANSWER, or
    the phone's BridgeEnter when no dial was seen. Each agent gets one pop
    per call, whichever way (and however often) they are reached."""
    kind = event.get('Event')
    if kind == 'AgentConnect':
        tracker = link.tracker
        leg = tracker.queue_leg(event)
        call = tracker.channel_call.get(event.get('Uniqueid'))
        if leg is not None and not _first_pop(call, leg):
            return
        connection = connection_of(tracker, event)
    elif kind in ('DialEnd', 'BridgeEnter'):
        connection = direct_connection_of(link.tracker, event)
    else:
        return
    if connection is not None:
        link.pops.add(connection)


def _first_pop(call, leg):
    """Mark the leg popped; whether its agent has had no pop on this call
    yet (an event seen again, or the agent reached a second time, has)."""
    if leg.popped:
        return False
    leg.popped = True
    return not any(other.popped for other in call.legs
        if other is not leg and other.interface == leg.interface)


def direct_connection_of(tracker, event):
    """The agent_connected dict of an agent whose phone, dialled outside the
    queue (transfer, consult), has just answered; None for anything else:
    a queue leg (AgentConnect pops it), a party who is not an agent, a call
    that is not inbound (no customer to show), a pop already sent."""
    from .tracker import event_time
    uniqueid = event.get('DestUniqueid') if event.get('Event') == (
        'DialEnd') else event.get('Uniqueid')
    call, leg = tracker.leg_of_channel(uniqueid)
    if (leg is None or leg.from_queue or leg.answer_time is None
            or leg.interface not in tracker.agents
            or call.direction != 'inbound'):
        return None
    if not _first_pop(call, leg):
        return None
    when = event_time(event) or tracker.now
    answers = [other.answer_time for other in call.legs
        if other.answer_time]
    first = min(answers) if answers else when
    wait = (first - call.join_time).total_seconds() if call.join_time else 0
    return _connection(call, leg.queue, leg.interface, when, wait)


class PopQueue:
    """The answered calls of a bridge link waiting for their screen pop.

    One goes to the database thread at once; those answered while it is
    busy wait and then go together, in one transaction: a burst of calls
    costs one commit, not one each, and the pops never queue up behind
    each other's commits."""

    def __init__(self, link):
        self.link = link
        self.waiting = []
        self.busy = False

    def add(self, connection):
        self.waiting.append(connection)
        if not self.busy:
            self._submit()

    def _submit(self):
        batch, self.waiting = self.waiting, []
        self.busy = True
        future = asyncio.get_running_loop().run_in_executor(
            self.link.executor, store_connection, self.link.database,
            self.link.settings['id'], batch)
        future.add_done_callback(self._done)

    def _done(self, future):
        self.busy = False
        _log_failure(future)
        if self.waiting:
            self._submit()


def connection_of(tracker, event):
    "The agent_connected dict of an AgentConnect the tracker followed."
    from .tracker import event_time
    call = tracker.channel_call.get(event.get('Uniqueid'))
    if call is None:
        return None
    when = event_time(event) or tracker.now
    wait = (when - call.join_time).total_seconds() if call.join_time else (
        float(event.get('HoldTime') or 0))
    return _connection(call, event.get('Queue'), event.get('Interface'),
        when, wait)


def _connection(call, queue, interface, when, wait):
    "The agent_connected dict of a tracker's call connected to an agent."
    return {
        'uniqueid': call.uniqueid,
        'linkedid': call.linkedid,
        'direction': call.direction,
        'caller_raw': call.caller_raw,
        'dnis': call.dnis,
        'enter_time': call.enter_time,
        'queue': queue,
        'interface': interface,
        'answer_time': when,
        'wait_seconds': round(max(wait, 0.0), 3),
        'ivr_path': call.ivr_path,
        }


def store_connection(database, pbx_id, connections, attempts=2):
    """Run agent_connected in its own transaction (bridge worker thread),
    once more when the router created one of the calls meanwhile."""
    for attempt in range(attempts):
        try:
            with database._transaction() as transaction:
                database.pool.get('cc.call').agent_connected(
                    connections, pbx=pbx_id)
                transaction.commit()
            return
        except Exception as error:
            if not is_call_race(error) or attempt == attempts - 1:
                raise


def _log_failure(future):
    error = future.exception()
    if error is not None:
        # The call itself is not lost: its final fact is spooled and
        # stored by the bridge; only the live pop is.
        logger.warning('screen pop not stored: %s', error)
