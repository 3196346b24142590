"""Agent and supervisor console: phone actions on cc.agent, sent to the PBX
over AMI, and the supervisor's live board.

Every action is a method of cc.agent exposed over RPC (partner systems, a
desk-phone plug-in) and, where it needs no input, a button. Actions go to
Asterisk through a short-lived AMI connection (amiaction.py); the bridge
sees their effect in the events like any other change, so nothing here
writes agent states.

Dialplan contexts the actions rely on (doc/console.rst): transfers and
click-to-dial dial in ``from-internal``; a queue is reached as its code in
``cc-queue`` (``Queue(${EXTEN})``); a conference is a ConfBridge room in
``cc-conference``.
"""
import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

from sql import Literal, Null
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from . import amiaction
from .agent import AGENT_STATES
from .queue import service_level, service_level_columns
from .routing import BUSY_STATES, QueueLoad, expected_wait

DIAL_CONTEXT = 'from-internal'
QUEUE_CONTEXT = 'cc-queue'
CONFERENCE_CONTEXT = 'cc-conference'
# ChanSpy options: q quiet (no beep), w whisper to the agent, B barge (talk
# to both sides); E ends the spy when the agent's call ends.
SPY_OPTIONS = {'listen': 'qE', 'whisper': 'qwE', 'barge': 'qBE'}
TRANSFER_MODES = [
    ('blind', "Blind Transfer"),
    ('attended', "Attended Transfer"),
    ('consult', "Consult"),
    ('conference', "Three-way Conference"),
    ]
TARGET_KINDS = [
    ('agent', "Agent"),
    ('queue', "Queue"),
    ('number', "External Number"),
    ]
AMI_TIMEOUT = 5.0
# MuteAudio directions: in is what the agent's phone sends (their voice),
# out what it receives (the caller).
MUTE_DIRECTIONS = {'in', 'out', 'all'}
# Set on the channel an on-demand recording runs on: only those may be
# stopped from the console ([cc-record]'s recordings of every call stay).
ON_DEMAND_VARIABLE = 'CC_RECORDING_ON_DEMAND'
# Longest internal extension dialled as typed (as the tracker's
# internal_exten_length); longer numbers must be valid phone numbers.
EXTENSION_DIGITS = 6
NO_PENDING_WRAP_UP = {'wrapup_call': None, 'wrapup_since': None,
    'wrapup_disposition': None, 'wrapup_pending_note': None}
UP, RINGING = '6', {'4', '5'}


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def local_now():
    "Now in the company's time zone (the PBX's, in the suite's set-up)."
    Company = Pool().get('company.company')
    company_id = Transaction().context.get('company')
    zone = 'UTC'
    if company_id:
        zone = Company(company_id).timezone or 'UTC'
    return dt.datetime.now(ZoneInfo(zone))


def today_start():
    "Naive UTC start of today in the company's time zone."
    local = local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def device_of(interface, extension=None):
    """The phone device of a queue member interface.

    A ``Local/1002@agents/n`` member rings its phone through the dialplan:
    the phone is the agent's extension (or the Local extension) on PJSIP."""
    if not interface.startswith('Local/'):
        return interface
    number = extension or interface[len('Local/'):].split('@')[0]
    return f'PJSIP/{number}'


class CallDisposition(DeactivableMixin, sequence_ordered(), ModelSQL,
        ModelView):
    "Call Disposition"
    __name__ = 'cc.call.disposition'
    __string__ = "Call Disposition"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'cc_telephony.msg_disposition_code_unique'),
            ]


class Call(metaclass=PoolMeta):
    """A call's disposition is that of the last leg wrapped up (lists and
    reports read it here); each agent's own is on their leg."""
    __name__ = 'cc.call'
    disposition = fields.Many2One(
        'cc.call.disposition', "Disposition", ondelete='RESTRICT',
        readonly=True)
    wrapup_note = fields.Text("Wrap-up Note", readonly=True)

    @classmethod
    def ingest_facts(cls, facts, pbx=None):
        "Give the legs just stored the wrap-ups their agents already did."
        call_ids = super().ingest_facts(facts, pbx=pbx)
        Pool().get('cc.agent').apply_pending_wrap_ups(call_ids)
        return call_ids


class Agent(metaclass=PoolMeta):
    __name__ = 'cc.agent'
    state_seconds = fields.Function(
        fields.Integer("In State (s)"), 'get_state_seconds')
    today_calls = fields.Function(
        fields.Integer("Calls Today"), 'get_today_figures')
    today_talk_seconds = fields.Function(
        fields.Float("Talk Today (s)", digits=(16, 0)), 'get_today_figures')
    today_average_handle = fields.Function(
        fields.Float("Average Handle Today (s)", digits=(16, 0)),
        'get_today_figures')
    today_not_ready_seconds = fields.Function(
        fields.Float("Not Ready Today (s)", digits=(16, 0)),
        'get_today_figures')
    # A live call's legs are stored when the call ends (the tracker's
    # fact): until then the console remembers the call the agent is on
    # and the wrap-up they already did, and gives it to their leg then.
    wrapup_call = fields.Many2One('cc.call', "Call to Wrap Up",
        readonly=True, ondelete='SET NULL')
    wrapup_since = fields.DateTime("Call to Wrap Up Since", readonly=True)
    wrapup_disposition = fields.Many2One('cc.call.disposition',
        "Pending Disposition", readonly=True, ondelete='SET NULL')
    wrapup_pending_note = fields.Text("Pending Wrap-up Note", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # No button is hidden by the live state: it comes from the bridge
        # and may lag the PBX, which has the last word (and says why).
        cls._buttons.update({name: {} for name in [
                    'sign_in', 'sign_out', 'ready', 'not_ready_wizard',
                    'answer', 'hangup', 'hold', 'unhold', 'transfer_wizard',
                    'wrap_up_wizard', 'dial_wizard', 'mute', 'unmute',
                    'record', 'stop_recording', 'listen', 'whisper',
                    'barge', 'force_sign_out', 'force_hangup']})
        for name in ['not_ready', 'dial', 'transfer', 'consult',
                'conference', 'wrap_up', 'force_not_ready', 'spy',
                'my_agent', 'start_recording']:
            cls.__rpc__[name] = RPC(readonly=name == 'my_agent',
                instantiate=None if name == 'my_agent' else 0)

    # -- figures -------------------------------------------------------------

    def get_state_seconds(self, name):
        if not self.state_since or self.state == 'logged_out':
            return None
        return max(0, int((utcnow() - self.state_since).total_seconds()))

    @classmethod
    def get_today_figures(cls, agents, names):
        pool = Pool()
        Leg = pool.get('cc.call.leg')
        State = pool.get('cc.agent.state')
        leg, state = Leg.__table__(), State.__table__()
        ids = [a.id for a in agents]
        since = today_start()
        result = {n: {i: 0 for i in ids} for n in names}
        cursor = Transaction().connection.cursor()
        cursor.execute(*leg.select(leg.agent, Count(leg.id),
                Sum(Coalesce(leg.talk_seconds, 0)),
                Sum(Coalesce(leg.talk_seconds, 0)
                    + Coalesce(leg.hold_seconds, 0)
                    + Coalesce(leg.wrapup_seconds, 0)),
                where=leg.agent.in_(ids) & (leg.ring_start >= since)
                & (leg.answer_time != Null),
                group_by=[leg.agent]))
        for agent_id, count, talk, handle in cursor:
            for name, value in [('today_calls', count),
                    ('today_talk_seconds', float(talk or 0)),
                    ('today_average_handle',
                        float(handle or 0) / count if count else 0)]:
                if name in result:
                    result[name][agent_id] = value
        if 'today_not_ready_seconds' in names:
            cursor.execute(*state.select(state.agent,
                    Sum(Coalesce(state.duration_seconds, 0)),
                    where=state.agent.in_(ids) & (state.start >= since)
                    & (state.state == 'not_ready'),
                    group_by=[state.agent]))
            for agent_id, seconds in cursor:
                result['today_not_ready_seconds'][agent_id] = float(
                    seconds or 0)
        return result

    # -- who may act ------------------------------------------------------

    @classmethod
    def my_agent(cls):
        "The id of the current user's agent (None if they have none)."
        agents = cls.search([('user', '=', Transaction().user)], limit=1)
        return agents[0].id if agents else None

    @classmethod
    def _is_supervisor(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        if Transaction().user == 0:
            return True
        group = ModelData.get_id('cc_base', 'group_cc_supervisor')
        return group in User.get_groups()

    @classmethod
    def _check_own(cls, agents):
        "An agent acts on their own phone; supervisors on any."
        user = Transaction().user
        if cls._is_supervisor():
            return
        for agent in agents:
            if not agent.user or agent.user.id != user:
                raise AccessError(gettext(
                        'cc_telephony.msg_console_not_own_agent',
                        agent=agent.rec_name))

    @classmethod
    def _check_supervisor(cls):
        if not cls._is_supervisor():
            raise AccessError(gettext(
                    'cc_telephony.msg_console_supervisor_only'))

    # -- talking to the PBX -----------------------------------------------

    def console_pbx(self):
        "The PBX of the agent's queues, or the only active one."
        Pbx = Pool().get('cc.pbx')
        for membership in self.memberships:
            pbx = membership.queue.pbx
            if pbx and pbx.active:
                return pbx
        pbxs = Pbx.search([], limit=2)
        if len(pbxs) != 1:
            raise UserError(gettext('cc_telephony.msg_console_no_pbx',
                    agent=self.rec_name))
        return pbxs[0]

    def _ami(self, actions):
        "Send ``actions`` to the agent's PBX; errors become UserErrors."
        Pbx = Pool().get('cc.pbx')
        pbx = self.console_pbx()
        # The AMI secret is readable by administrators only (pbx.xml);
        # agents still act through it.
        with without_check_access():
            pbx = Pbx(pbx.id)
            settings = (pbx.ami_host, pbx.ami_port, pbx.ami_username,
                pbx.ami_secret or '')
        try:
            return amiaction.run(*settings, actions, timeout=AMI_TIMEOUT)
        except amiaction.AMIError as error:
            raise UserError(gettext('cc_telephony.msg_console_pbx_refused',
                    pbx=pbx.rec_name, message=str(error))) from error
        except (OSError, asyncio.TimeoutError) as error:
            raise UserError(gettext(
                    'cc_telephony.msg_console_pbx_unreachable',
                    pbx=pbx.rec_name,
                    address=f'{pbx.ami_host}:{pbx.ami_port}')) from error

    @property
    def device(self):
        return device_of(self.interface, self.extension)

    @property
    def endpoint(self):
        "PJSIP endpoint name of the agent's phone (for PJSIPNotify)."
        return self.device.split('/', 1)[-1]

    def _channels(self):
        "The agent's phone channels now up on the PBX (CoreShowChannels)."
        response, = self._ami([('CoreShowChannels', {})])
        prefix = self.device + '-'
        return [event for event in response.events
            if event.get('Channel', '').startswith(prefix)]

    def _call_channel(self, talking=True):
        """The agent's channel in a call (answered, bridged first), or the
        ringing one when ``talking`` is False."""
        channels = self._channels()
        if talking:
            channels = [c for c in channels if c.get('ChannelState') == UP]
            channels.sort(key=lambda c: not c.get('BridgeId'))
        else:
            channels = [c for c in channels
                if c.get('ChannelState') in RINGING]
        if not channels:
            raise UserError(gettext(
                    'cc_telephony.msg_console_no_call'
                    if talking else 'cc_telephony.msg_console_not_ringing',
                    agent=self.rec_name))
        return channels[0]

    def _far_channel(self, channel):
        "The other channel in the bridge of ``channel``."
        response, = self._ami([('CoreShowChannels', {})])
        for other in response.events:
            if (other.get('BridgeId') == channel.get('BridgeId')
                    and other.get('Channel') != channel['Channel']):
                return other
        raise UserError(gettext('cc_telephony.msg_console_no_call',
                agent=self.rec_name))

    # -- queues and readiness ------------------------------------------------

    @classmethod
    @ModelView.button
    def sign_in(cls, agents):
        "QueueAdd in every queue of the agent, with its penalty."
        cls._check_own(agents)
        for agent in agents:
            memberships = [m for m in agent.memberships if m.queue.active]
            if not memberships:
                raise UserError(gettext(
                        'cc_telephony.msg_console_no_queue',
                        agent=agent.rec_name))
            agent._ami([('QueueAdd', {
                            'Queue': m.queue.code,
                            'Interface': agent.interface,
                            'Penalty': m.penalty,
                            'MemberName': agent.name,
                            'StateInterface': agent.device,
                            }, False) for m in memberships])

    @classmethod
    @ModelView.button
    def sign_out(cls, agents):
        cls._check_own(agents)
        cls._sign_out(agents)

    @classmethod
    def _sign_out(cls, agents):
        "QueueRemove from every queue the PBX has the agent in."
        for agent in agents:
            response, = agent._ami([('QueueStatus', {})])
            queues = sorted({e['Queue'] for e in response.events
                    if e.get('Event') == 'QueueMember'
                    and e.get('Location', e.get('Interface'))
                    == agent.interface})
            if not queues:
                raise UserError(gettext(
                        'cc_telephony.msg_console_not_signed_in',
                        agent=agent.rec_name))
            agent._ami([('QueueRemove', {
                            'Queue': q, 'Interface': agent.interface})
                    for q in queues])

    @classmethod
    @ModelView.button
    def ready(cls, agents):
        cls._check_own(agents)
        cls._pause(agents, False)

    @classmethod
    def not_ready(cls, agents, reason_code):
        "QueuePause in every queue, the reason code as Reason."
        cls._check_own(agents)
        cls._pause(agents, True, reason_code)

    @classmethod
    def _pause(cls, agents, paused, reason_code=None):
        Reason = Pool().get('cc.agent.reason')
        headers = {'Paused': 'true' if paused else 'false'}
        if paused:
            if not Reason.by_code([reason_code]):
                raise UserError(gettext(
                        'cc_telephony.msg_console_unknown_reason',
                        reason=reason_code or ''))
            headers['Reason'] = reason_code
        for agent in agents:
            response, = agent._ami([('QueuePause', {
                            'Interface': agent.interface, **headers},
                        False)])
            if not response.ok:
                raise UserError(gettext(
                        'cc_telephony.msg_console_not_signed_in',
                        agent=agent.rec_name))

    @classmethod
    @ModelView.button_action('cc_telephony.wizard_agent_not_ready')
    def not_ready_wizard(cls, agents):
        pass

    # -- the call ------------------------------------------------------------

    def _notify_phone(self, event):
        """Ask the agent's phone to answer or hold: Asterisk has no AMI
        action for it, so the phone is sent a SIP NOTIFY (``Event: talk`` /
        ``Event: hold``, honoured by Yealink, Fanvil, Grandstream and
        others); the phone's own answer or re-INVITE then raises the usual
        events."""
        self._ami([('PJSIPNotify', {'Endpoint': self.endpoint,
                        'Variable': f'Event={event}'})])

    @classmethod
    def _press(cls, agents, event, talking=True):
        "Have each agent's phone ``event`` its call, ringing or talking."
        cls._check_own(agents)
        for agent in agents:
            agent._call_channel(talking=talking)
            agent._notify_phone(event)

    @classmethod
    @ModelView.button
    def answer(cls, agents):
        cls._press(agents, 'talk', talking=False)

    @classmethod
    @ModelView.button
    def hold(cls, agents):
        cls._press(agents, 'hold')

    @classmethod
    @ModelView.button
    def unhold(cls, agents):
        cls._press(agents, 'talk')

    @classmethod
    @ModelView.button
    def hangup(cls, agents):
        "Hang up the agent's call (or refuse the one ringing)."
        cls._check_own(agents)
        for agent in agents:
            channels = agent._channels()
            if not channels:
                raise UserError(gettext('cc_telephony.msg_console_no_call',
                        agent=agent.rec_name))
            agent._ami([('Hangup', {'Channel': c['Channel']})
                    for c in channels])

    @classmethod
    def dial(cls, agents, number):
        """Click-to-dial: the PBX rings the agent's phone and, once it is
        answered, dials ``number``. Returns the ChannelId of each call."""
        cls._check_own(agents)
        number = cls._dial_number(number)
        channel_ids = []
        for agent in agents:
            channel_id = agent.new_dial_id()
            agent.originate(number, channel_id)
            channel_ids.append(channel_id)
        return channel_ids

    def new_dial_id(self):
        "A ChannelId for the agent's next click-to-dial call."
        return f'cc-dial-{self.id}-{utcnow():%Y%m%d%H%M%S%f}'

    def originate(self, digits, channel_id):
        """Ring the agent's phone, then dial ``digits`` (see _dial_number):
        ``channel_id`` becomes the Uniqueid (and Linkedid) of the call."""
        self._ami([('Originate', {
                        'Channel': self.device,
                        'Context': DIAL_CONTEXT,
                        'Exten': digits,
                        'Priority': 1,
                        'CallerID': self.extension or self.endpoint,
                        'Async': 'true',
                        'ChannelId': channel_id,
                        'Timeout': 30000,
                        })])

    @classmethod
    @ModelView.button_action('cc_telephony.wizard_agent_dial')
    def dial_wizard(cls, agents):
        pass

    @classmethod
    def _dial_number(cls, number):
        """The digits to dial for ``number`` (as typed or as stored): a
        phone number valid for the suite's number parsing (cc_base), or an
        internal extension of at most EXTENSION_DIGITS digits."""
        Caller = Pool().get('cc.caller')
        number = (number or '').strip()
        digits = ''.join(ch for ch in number if ch.isdigit())
        if not digits:
            raise UserError(gettext('cc_telephony.msg_console_no_number'))
        invalid = UserError(gettext('cc_telephony.msg_console_invalid_number',
                number=number, digits=EXTENSION_DIGITS))
        if any(not (ch.isdigit() or ch in ' +-().') for ch in number):
            raise invalid
        parsed = Caller.parse(number)
        if parsed.e164 and parsed.valid:
            # A Chinese number is dialled nationally: mobiles as they are,
            # fixed lines with 0 + area code; others internationally.
            if parsed.e164.startswith('+86'):
                national = parsed.e164[3:]
                if len(national) == 11 and national.startswith('1'):
                    return national
                return '0' + national
            return '00' + parsed.e164[1:]
        if len(digits) <= EXTENSION_DIGITS and not number.startswith('+'):
            return digits
        raise invalid

    # -- mute and record on demand -------------------------------------------

    @classmethod
    @ModelView.button
    def mute(cls, agents, direction='in'):
        """MuteAudio of the agent's call channel: ``in`` (the default, the
        button) mutes what the agent says, ``out`` what they hear, ``all``
        both."""
        cls._mute(agents, direction, True)

    @classmethod
    @ModelView.button
    def unmute(cls, agents, direction='all'):
        cls._mute(agents, direction, False)

    @classmethod
    def _mute(cls, agents, direction, state):
        if direction not in MUTE_DIRECTIONS:
            raise ValueError(f'unknown mute direction {direction!r}')
        cls._check_own(agents)
        for agent in agents:
            channel = agent._call_channel()
            agent._ami([('MuteAudio', {'Channel': channel['Channel'],
                            'Direction': direction,
                            'State': 'on' if state else 'off'})])

    def _recorded_channel(self):
        """(agent's channel, call's first channel): the recording runs on
        the first channel, whose CDR user field the bridge stores as the
        call's recording ([cc-record]), and which a transfer keeps."""
        response, = self._ami([('CoreShowChannels', {})])
        prefix = self.device + '-'
        talking = [c for c in response.events
            if c.get('Channel', '').startswith(prefix)
            and c.get('ChannelState') == UP]
        talking.sort(key=lambda c: not c.get('BridgeId'))
        if not talking:
            raise UserError(gettext('cc_telephony.msg_console_no_call',
                    agent=self.rec_name))
        channel = talking[0]
        for other in response.events:
            if (other.get('Uniqueid')
                    and other.get('Uniqueid') == channel.get('Linkedid')):
                return channel, other
        return channel, channel

    def _getvar(self, variable, channel=None):
        headers = {'Variable': variable}
        if channel:
            headers['Channel'] = channel
        response, = self._ami([('Getvar', headers, False)])
        return (response.get('Value') or '').strip() if response.ok else ''

    @classmethod
    def start_recording(cls, agents):
        """MixMonitor the agent's call, named and referenced as [cc-record]
        does: ``${CC_RECORDINGS}/Y/m/d/<first channel's uniqueid>.wav`` in
        CC_RECORDING and CDR(userfield), which the bridge stores as the
        call's recording. Returns the file of each agent's call."""
        cls._check_own(agents)
        files = []
        for agent in agents:
            _, first = agent._recorded_channel()
            name = first['Channel']
            path = agent._getvar('CC_RECORDING', name)
            options = 'b'
            if path:
                if agent._getvar(ON_DEMAND_VARIABLE, name) != 'stopped':
                    raise UserError(gettext(
                            'cc_telephony.msg_console_already_recorded',
                            file=path))
                # Recording again after a stop: one file per call.
                options = 'ab'
            else:
                folder = agent._getvar('CC_RECORDINGS')
                uniqueid = first.get('Uniqueid') or f'cc-{agent.id}'
                path = f'{local_now():%Y/%m/%d}/{uniqueid}.wav'
                if folder:
                    path = f'{folder.rstrip("/")}/{path}'
            agent._ami([
                    ('MixMonitor', {'Channel': name, 'File': path,
                            'Options': options}),
                    ('Setvar', {'Channel': name, 'Variable': 'CC_RECORDING',
                            'Value': path}),
                    ('Setvar', {'Channel': name,
                            'Variable': ON_DEMAND_VARIABLE, 'Value': '1'}),
                    ('Setvar', {'Channel': name,
                            'Variable': 'CDR(userfield)', 'Value': path}),
                    ])
            files.append(path)
        return files

    @classmethod
    @ModelView.button
    def record(cls, agents):
        cls.start_recording(agents)

    @classmethod
    @ModelView.button
    def stop_recording(cls, agents):
        """StopMixMonitor of a recording started from the console; the file
        stays the call's recording. The recording [cc-record] makes of
        every call cannot be stopped from here."""
        cls._check_own(agents)
        for agent in agents:
            _, first = agent._recorded_channel()
            name = first['Channel']
            if agent._getvar(ON_DEMAND_VARIABLE, name) != '1':
                raise UserError(gettext(
                        'cc_telephony.msg_console_not_recording_on_demand',
                        agent=agent.rec_name))
            agent._ami([
                    ('StopMixMonitor', {'Channel': name}),
                    ('Setvar', {'Channel': name,
                            'Variable': ON_DEMAND_VARIABLE,
                            'Value': 'stopped'}),
                    ])

    def _transfer_exten(self, kind, target):
        "(context, exten) that reaches a target agent, queue or number."
        pool = Pool()
        if kind == 'agent':
            agent = pool.get('cc.agent')(int(target))
            return DIAL_CONTEXT, agent.extension or agent.endpoint
        if kind == 'queue':
            return QUEUE_CONTEXT, pool.get('cc.queue')(int(target)).code
        return DIAL_CONTEXT, self._dial_number(target)

    @classmethod
    def transfer(cls, agents, kind, target, attended=False):
        """BlindTransfer (or Atxfer when ``attended``) of the agent's call
        to an agent id, a queue id or a number (``kind``)."""
        cls._check_own(agents)
        for agent in agents:
            channel = agent._call_channel()
            context, exten = agent._transfer_exten(kind, target)
            agent._remember_call()
            if attended:
                # Atxfer: the caller waits while the agent talks to the
                # target; the transfer completes when the agent hangs up.
                agent._ami([('Atxfer', {'Channel': channel['Channel'],
                                'Exten': exten, 'Context': context})])
            else:
                agent._ami([('BlindTransfer', {
                                'Channel': channel['Channel'],
                                'Exten': exten, 'Context': context})])

    @classmethod
    def consult(cls, agents, kind, target):
        """Consult a colleague or number with the caller on hold: the first
        half of an attended transfer. Hanging up hands the caller over;
        ``conference`` brings everyone together instead."""
        cls.transfer(agents, kind, target, attended=True)

    @classmethod
    def conference(cls, agents, kind, target):
        """Three-way conference: the agent and the far end are moved into
        a ConfBridge room named after the agent, then the target is called
        into it."""
        cls._check_own(agents)
        for agent in agents:
            channel = agent._call_channel()
            far = agent._far_channel(channel)
            room = f'cc{agent.id}'
            context, exten = agent._transfer_exten(kind, target)
            agent._remember_call()
            agent._ami([
                    ('Redirect', {'Channel': far['Channel'],
                            'ExtraChannel': channel['Channel'],
                            'Context': CONFERENCE_CONTEXT, 'Exten': room,
                            'Priority': 1,
                            'ExtraContext': CONFERENCE_CONTEXT,
                            'ExtraExten': room, 'ExtraPriority': 1}),
                    ('Originate', {'Channel': f'Local/{exten}@{context}',
                            'Context': CONFERENCE_CONTEXT, 'Exten': room,
                            'Priority': 1, 'Async': 'true',
                            'CallerID': agent.extension or agent.endpoint}),
                    ])

    @classmethod
    @ModelView.button_action('cc_telephony.wizard_agent_transfer')
    def transfer_wizard(cls, agents):
        pass

    def _remember_call(self):
        """Remember the live call the agent hands over: it is no longer
        theirs once the target answers, but their wrap-up is for it."""
        Call = Pool().get('cc.call')
        with without_check_access():
            calls = Call.search([
                    ('agent', '=', self.id),
                    ('state', '=', 'live'),
                    ('answer_time', '>=', today_start()),
                    ], order=[('answer_time', 'DESC')], limit=1)
            if calls:
                self._remember_wrapup_call(calls[0])

    def _remember_wrapup_call(self, call):
        "Make ``call`` the one the agent's next wrap-up is for."
        if self.wrapup_call != call:
            self.write([self], {'wrapup_call': call.id,
                    'wrapup_since': utcnow(),
                    'wrapup_disposition': None,
                    'wrapup_pending_note': None})

    @classmethod
    def update_live_states(cls, states):
        """Also remember the live call each agent handed over by a
        transfer (``transferred_call``, a Uniqueid): the tracker sees the
        transfers made on the phone as well as those of the console."""
        Call = Pool().get('cc.call')
        super().update_live_states(states)
        transferred = {s['interface']: s['transferred_call'] for s in states
            if s.get('transferred_call')}
        if not transferred:
            return
        with without_check_access():
            calls = Call._by_uniqueid(transferred.values())
            for interface, agent_id in cls.by_interface(transferred).items():
                call = calls.get(transferred[interface])
                if call is not None and call.state == 'live':
                    cls(agent_id)._remember_wrapup_call(call)

    # -- wrap-up -------------------------------------------------------------

    def wrap_up_target(self):
        """(leg, call) the agent's next wrap-up is for: their most recent
        answered leg today, or (leg None) a live call they are on (or
        transferred away from the console), whose legs are stored only
        when it ends, unless a leg of theirs was answered after it."""
        pool = Pool()
        Call = pool.get('cc.call')
        Leg = pool.get('cc.call.leg')
        since = today_start()
        with without_check_access():
            legs = Leg.search([
                    ('agent', '=', self.id),
                    ('answer_time', '>=', since),
                    ], order=[('answer_time', 'DESC'), ('id', 'DESC')],
                limit=1)
            leg = legs[0] if legs else None
            # A live call connected to the agent was last written when
            # they connected or later; the one remembered, when remembered.
            # A leg of theirs answered after that is of a later call.
            candidates = [(c.write_date or c.create_date, c)
                for c in Call.search([
                        ('agent', '=', self.id),
                        ('state', '=', 'live'),
                        ('answer_time', '>=', since),
                        ], order=[('answer_time', 'DESC')], limit=1)]
            remembered = self.wrapup_call
            if remembered and remembered.state == 'live':
                candidates.append((self.wrapup_since
                        or remembered.write_date, Call(remembered.id)))
            for stamp, call in sorted(candidates, key=lambda c: c[0],
                    reverse=True):
                # Stamps are stored to the second on SQLite.
                if leg is None or leg.answer_time < (
                        stamp + dt.timedelta(seconds=1)):
                    return None, call
        if leg is None:
            raise UserError(gettext(
                    'cc_telephony.msg_console_no_call_to_wrap_up',
                    agent=self.rec_name))
        return leg, leg.call

    @classmethod
    def wrap_up(cls, agents, disposition, note=None):
        """Record the disposition of the agent's part of their last call
        today (their leg; the call keeps the last one given) and, when the
        agent is in wrap-up, make them ready (QueuePause false ends the
        after-call work for the tracker). Returns the call ids."""
        pool = Pool()
        Call = pool.get('cc.call')
        Leg = pool.get('cc.call.leg')
        Disposition = pool.get('cc.call.disposition')
        cls._check_own(agents)
        disposition = Disposition(int(disposition))
        values = {'disposition': disposition.id, 'wrapup_note': note or None}
        call_ids = []
        for agent in agents:
            leg, call = agent.wrap_up_target()
            with without_check_access():
                if leg is not None:
                    Leg.write([leg], values)
                    if agent.wrapup_call == call:
                        cls.write([agent], NO_PENDING_WRAP_UP)
                else:
                    # Given to the agent's leg once the call is stored.
                    pending = {'wrapup_call': call.id,
                        'wrapup_disposition': disposition.id,
                        'wrapup_pending_note': note or None}
                    if agent.wrapup_call != call:
                        pending['wrapup_since'] = utcnow()
                    cls.write([agent], pending)
                Call.write([call], values)
            call_ids.append(call.id)
            if agent.state == 'wrap_up':
                cls._pause([agent], False)
        return call_ids

    @classmethod
    def apply_pending_wrap_ups(cls, call_ids):
        """Give the wrap-ups done while the calls were live to the agents'
        legs of those calls, now stored (Call.ingest_facts)."""
        Leg = Pool().get('cc.call.leg')
        if not call_ids:
            return
        with without_check_access():
            agents = cls.search([('wrapup_call', 'in', list(call_ids))])
            for agent in agents:
                legs = Leg.search([
                        ('call', '=', agent.wrapup_call.id),
                        ('agent', '=', agent.id),
                        ('answer_time', '!=', None),
                        ], order=[('answer_time', 'DESC')], limit=1)
                if not legs:
                    continue
                if agent.wrapup_disposition:
                    Leg.write(legs, {
                            'disposition': agent.wrapup_disposition.id,
                            'wrapup_note': agent.wrapup_pending_note})
                cls.write([agent], NO_PENDING_WRAP_UP)

    @classmethod
    @ModelView.button_action('cc_telephony.wizard_agent_wrap_up')
    def wrap_up_wizard(cls, agents):
        pass

    # -- supervisor ----------------------------------------------------------

    @classmethod
    def force_not_ready(cls, agents, reason_code):
        cls._check_supervisor()
        cls._pause(agents, True, reason_code)

    @classmethod
    @ModelView.button
    def force_sign_out(cls, agents):
        cls._check_supervisor()
        cls._sign_out(agents)

    @classmethod
    def spy(cls, agents, mode):
        """Ring the supervisor's phone into ChanSpy on each agent's phone:
        ``listen``, ``whisper`` (the agent hears the supervisor) or
        ``barge`` (both sides do)."""
        cls._check_supervisor()
        supervisor = cls._supervisor_agent()
        if mode not in SPY_OPTIONS:
            raise ValueError(f'unknown spy mode {mode!r}')
        for agent in agents:
            supervisor._ami([('Originate', {
                            'Channel': supervisor.device,
                            'Application': 'ChanSpy',
                            'Data': f'{agent.device},{SPY_OPTIONS[mode]}',
                            'CallerID': f'Spy {agent.extension or ""}',
                            'Async': 'true',
                            'Timeout': 30000,
                            })])

    @classmethod
    @ModelView.button
    def force_hangup(cls, agents):
        """Hang up the agent's call: AMI Hangup of the channels the PBX has
        on the agent's phone now (CoreShowChannels filtered on its device,
        as the agent's own hangup does). The live state in the database
        knows no channel and may lag the PBX, which has the last word."""
        cls._check_supervisor()
        for agent in agents:
            channels = agent._channels()
            if not channels:
                raise UserError(gettext(
                        'cc_telephony.msg_console_no_channel_to_hang_up',
                        agent=agent.rec_name, device=agent.device))
            agent._ami([('Hangup', {'Channel': c['Channel']})
                    for c in channels])

    @classmethod
    def _supervisor_agent(cls):
        agent_id = cls.my_agent()
        if agent_id is None:
            raise UserError(gettext('cc_telephony.msg_console_no_agent'))
        return cls(agent_id)

    @classmethod
    @ModelView.button
    def listen(cls, agents):
        cls.spy(agents, 'listen')

    @classmethod
    @ModelView.button
    def whisper(cls, agents):
        cls.spy(agents, 'whisper')

    @classmethod
    @ModelView.button
    def barge(cls, agents):
        cls.spy(agents, 'barge')


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'cc_dial': {'invisible': Eval('id', -1) < 0,
                    'depends': ['id']},
                })

    @classmethod
    @ModelView.button
    def cc_dial(cls, parties):
        "Call the customer from the current user's phone."
        Agent = Pool().get('cc.agent')
        agent_id = Agent.my_agent()
        if agent_id is None:
            raise UserError(gettext('cc_telephony.msg_console_no_agent'))
        party, = parties
        numbers = [m.value for m in party.contact_mechanisms
            if m.type in {'phone', 'mobile'} and m.value]
        if not numbers:
            raise UserError(gettext(
                    'cc_telephony.msg_console_party_no_number',
                    party=party.rec_name))
        Agent.dial([Agent(agent_id)], numbers[0])


class ConsoleOpen(Wizard):
    "Open My Console"
    __name__ = 'cc.agent.console.open'
    start_state = 'open_'
    open_ = StateAction('cc_telephony.act_agent_console')

    def do_open_(self, action):
        Agent = Pool().get('cc.agent')
        agent_id = Agent.my_agent()
        if agent_id is None:
            raise UserError(gettext('cc_telephony.msg_console_no_agent'))
        action['res_id'] = [agent_id]
        return action, {}


class _ConsoleWizard(Wizard):
    "Shared part of the console wizards: the agents they act on."

    def console_agents(self):
        Agent = Pool().get('cc.agent')
        # The supervisor board lists agents under the same ids.
        return Agent.browse([r.id for r in self.records])


class NotReadyStart(ModelView):
    "Not Ready"
    __name__ = 'cc.agent.not_ready.start'
    __string__ = "Not Ready"
    reason = fields.Many2One('cc.agent.reason', "Reason", required=True)


class NotReady(_ConsoleWizard):
    "Not Ready"
    __name__ = 'cc.agent.not_ready'
    start = StateView('cc.agent.not_ready.start',
        'cc_telephony.agent_not_ready_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Not Ready", 'pause', 'tryton-ok', default=True),
            ])
    pause = StateTransition()

    def transition_pause(self):
        Agent = Pool().get('cc.agent')
        agents = self.console_agents()
        user = Transaction().user
        if any(not a.user or a.user.id != user for a in agents):
            Agent.force_not_ready(agents, self.start.reason.code)
        else:
            Agent.not_ready(agents, self.start.reason.code)
        return 'end'


class TransferStart(ModelView):
    "Transfer"
    __name__ = 'cc.agent.transfer.start'
    __string__ = "Transfer"
    mode = fields.Selection(TRANSFER_MODES, "Mode", required=True)
    target_kind = fields.Selection(TARGET_KINDS, "Target", required=True)
    target_agent = fields.Many2One('cc.agent', "Agent",
        states={'invisible': Eval('target_kind') != 'agent',
            'required': Eval('target_kind') == 'agent'})
    target_queue = fields.Many2One('cc.queue', "Queue",
        states={'invisible': Eval('target_kind') != 'queue',
            'required': Eval('target_kind') == 'queue'})
    number = fields.Char("Number",
        states={'invisible': Eval('target_kind') != 'number',
            'required': Eval('target_kind') == 'number'})

    @classmethod
    def default_mode(cls):
        return 'blind'

    @classmethod
    def default_target_kind(cls):
        return 'agent'

    def target(self):
        if self.target_kind == 'agent':
            return self.target_agent.id
        if self.target_kind == 'queue':
            return self.target_queue.id
        return self.number


class Transfer(_ConsoleWizard):
    "Transfer"
    __name__ = 'cc.agent.transfer'
    start = StateView('cc.agent.transfer.start',
        'cc_telephony.agent_transfer_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("OK", 'transfer', 'tryton-ok', default=True),
            ])
    transfer = StateTransition()

    def transition_transfer(self):
        Agent = Pool().get('cc.agent')
        agents = self.console_agents()
        kind, target = self.start.target_kind, self.start.target()
        mode = self.start.mode
        if mode == 'conference':
            Agent.conference(agents, kind, target)
        elif mode == 'consult':
            Agent.consult(agents, kind, target)
        else:
            Agent.transfer(agents, kind, target, attended=mode == 'attended')
        return 'end'


class DialStart(ModelView):
    "Dial"
    __name__ = 'cc.agent.dial.start'
    __string__ = "Dial"
    number = fields.Char("Number", required=True,
        help="A phone number (mobile, fixed line with area code, "
        "+country code) or an internal extension.")


class Dial(_ConsoleWizard):
    "Dial"
    __name__ = 'cc.agent.dial'
    start = StateView('cc.agent.dial.start',
        'cc_telephony.agent_dial_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Dial", 'dial', 'tryton-ok', default=True),
            ])
    dial = StateTransition()

    def transition_dial(self):
        Pool().get('cc.agent').dial(self.console_agents(), self.start.number)
        return 'end'


class WrapUpStart(ModelView):
    "Wrap-up"
    __name__ = 'cc.agent.wrap_up.start'
    __string__ = "Wrap-up"
    call = fields.Many2One('cc.call', "Call", readonly=True)
    caller = fields.Char("Caller", readonly=True)
    party = fields.Many2One('party.party', "Customer", readonly=True)
    answer_time = fields.DateTime("Answered At", readonly=True)
    disposition = fields.Many2One(
        'cc.call.disposition', "Disposition", required=True)
    note = fields.Text("Note")


class WrapUp(_ConsoleWizard):
    "Wrap-up"
    __name__ = 'cc.agent.wrap_up'
    start = StateView('cc.agent.wrap_up.start',
        'cc_telephony.agent_wrap_up_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Done", 'done', 'tryton-ok', default=True),
            ])
    done = StateTransition()

    def default_start(self, fields):
        "Which call (and caller) the wrap-up is for, before it is done."
        agent = self.console_agents()[0]
        leg, call = agent.wrap_up_target()
        values = {
            'call': call.id,
            'caller': call.caller_number or call.caller_raw,
            'party': call.party.id if call.party else None,
            'answer_time': leg.answer_time if leg else call.answer_time,
            }
        # Done already: shown to be corrected.
        if leg and leg.disposition:
            values['disposition'] = leg.disposition.id
            values['note'] = leg.wrapup_note
        elif (not leg and agent.wrapup_call == call
                and agent.wrapup_disposition):
            values['disposition'] = agent.wrapup_disposition.id
            values['note'] = agent.wrapup_pending_note
        return values

    def transition_done(self):
        Agent = Pool().get('cc.agent')
        Agent.wrap_up(self.console_agents(), self.start.disposition.id,
            self.start.note)
        return 'end'


# -- supervisor board ------------------------------------------------------

class QueueBoard(ModelSQL, ModelView):
    "Queue Board"
    __name__ = 'cc.queue.board'
    __string__ = "Queue Board"
    queue = fields.Many2One('cc.queue', "Queue", readonly=True)
    waiting = fields.Function(fields.Integer("Waiting"), 'get_live')
    longest_wait = fields.Function(
        fields.Integer("Longest Wait (s)"), 'get_live')
    waiting_beyond_limit = fields.Function(
        fields.Integer("Waiting Beyond Limit",
            help="Callers waiting longer than the queue's service level "
            "threshold: the connect time the center promises."),
        'get_live')
    expected_wait = fields.Function(
        fields.Integer("Expected Wait (s)",
            help="What a caller arriving now is expected to wait: 0 when "
            "an agent is ready; else the callers waiting and them, times "
            "the handle time of the last 30 minutes, over the busy agents "
            "(what callers are told). Empty: unknown."),
        'get_expected_wait')
    agents_ready = fields.Function(fields.Integer("Ready"), 'get_agents')
    agents_busy = fields.Function(fields.Integer("Busy"), 'get_agents')
    agents_signed_in = fields.Function(
        fields.Integer("Signed In"), 'get_agents')
    offered_today = fields.Function(fields.Integer("Offered Today"),
        'get_today')
    answered_today = fields.Function(fields.Integer("Answered Today"),
        'get_today')
    abandoned_today = fields.Function(fields.Integer("Abandoned Today"),
        'get_today')
    service_level_today = fields.Function(
        fields.Float("Service Level Today (%)", digits=(16, 1)), 'get_today')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'ASC')]

    @classmethod
    def table_query(cls):
        "One row per active queue, with the queue's id."
        queue = Pool().get('cc.queue').__table__()
        return queue.select(queue.id.as_('id'), queue.id.as_('queue'),
            queue.create_uid, queue.create_date, queue.write_uid,
            queue.write_date, where=queue.active == Literal(True))

    @classmethod
    def get_live(cls, boards, names):
        """Callers the router queued whose answer or end is not known yet,
        the longest wait, and how many waited beyond the queue's service
        level threshold (TEL-78: the board turns red).

        Only calls that entered in the last hours count: a call whose end
        the bridge never saw must not wait on the board for ever."""
        pool = Pool()
        Call = pool.get('cc.call')
        Queue = pool.get('cc.queue')
        call = Call.__table__()
        ids = [b.id for b in boards]
        limits = {q.id: q.service_level_seconds or 0
            for q in Queue.browse(ids)}
        result = {n: {i: 0 for i in ids} for n in names}
        now = utcnow()
        cursor = Transaction().connection.cursor()
        cursor.execute(*call.select(call.queue,
                Coalesce(call.enter_time, call.routed_at),
                where=call.queue.in_(ids) & (call.state == 'live')
                & (call.answer_time == Null)
                & (Coalesce(call.enter_time, call.routed_at)
                    >= now - dt.timedelta(hours=4))))
        for queue_id, entered in cursor:
            if isinstance(entered, str):
                entered = dt.datetime.fromisoformat(entered)
            waited = max(0, int((now - entered).total_seconds()))
            values = {'waiting': 1,
                'waiting_beyond_limit': int(waited > limits[queue_id])}
            for name in names:
                if name == 'longest_wait':
                    result[name][queue_id] = max(
                        result[name][queue_id], waited)
                else:
                    result[name][queue_id] += values[name]
        return result

    @classmethod
    def get_agents(cls, boards, names):
        pool = Pool()
        Member = pool.get('cc.queue.member')
        Agent = pool.get('cc.agent')
        member, agent = Member.__table__(), Agent.__table__()
        ids = [b.id for b in boards]
        result = {n: {i: 0 for i in ids} for n in names}
        busy = list(BUSY_STATES)
        cursor = Transaction().connection.cursor()
        cursor.execute(*member.join(agent,
                condition=member.agent == agent.id).select(
                member.queue,
                Sum(Case((agent.state == 'ready', 1), else_=0)),
                Sum(Case((agent.state.in_(busy), 1), else_=0)),
                Sum(Case((agent.state != 'logged_out', 1), else_=0)),
                where=member.queue.in_(ids)
                & (agent.active == Literal(True)),
                group_by=[member.queue]))
        for queue_id, ready, busy_, signed_in in cursor:
            for name, value in [('agents_ready', ready),
                    ('agents_busy', busy_),
                    ('agents_signed_in', signed_in)]:
                if name in result:
                    result[name][queue_id] = int(value or 0)
        return result

    @classmethod
    def get_expected_wait(cls, boards, name):
        pool = Pool()
        Queue = pool.get('cc.queue')
        ids = [b.id for b in boards]
        agents = cls.get_agents(boards, ['agents_ready', 'agents_busy'])
        loads = Queue.recent_loads(utcnow(), ids=ids)
        result = {}
        for queue in Queue.browse(ids):
            load = loads.get(queue.code, QueueLoad())
            result[queue.id] = 0 if agents['agents_ready'][queue.id] else (
                expected_wait(load.waiting, load.handle_seconds,
                    agents['agents_busy'][queue.id]))
        return result

    @classmethod
    def get_today(cls, boards, names):
        """Today's offered, answered, abandoned calls and service level:
        answered within the threshold over answered plus abandoned."""
        Call = Pool().get('cc.call')
        call = Call.__table__()
        ids = [b.id for b in boards]
        result = {n: {i: 0 for i in ids} for n in names}
        cursor = Transaction().connection.cursor()
        cursor.execute(*call.select(call.queue,
                *service_level_columns(call),
                where=call.queue.in_(ids)
                & (Coalesce(call.enter_time, call.routed_at)
                    >= today_start()),
                group_by=[call.queue]))
        for queue_id, offered, answered, abandoned, within in cursor:
            values = {'offered_today': offered,
                'answered_today': int(answered or 0),
                'abandoned_today': int(abandoned or 0),
                'service_level_today': service_level(
                    answered, abandoned, within) or 0.0}
            for name in names:
                result[name][queue_id] = values[name]
        return result


class AgentBoard(ModelSQL, ModelView):
    "Agent Board"
    __name__ = 'cc.agent.board'
    __string__ = "Agent Board"
    agent = fields.Many2One('cc.agent', "Agent", readonly=True)
    team = fields.Many2One('cc.team', "Team", readonly=True)
    state = fields.Selection(AGENT_STATES, "State", readonly=True)
    state_reason = fields.Many2One(
        'cc.agent.reason', "Reason", readonly=True)
    state_since = fields.DateTime("Since", readonly=True)
    state_seconds = fields.Function(
        fields.Integer("Duration (s)"), 'get_agent_figure')
    today_calls = fields.Function(
        fields.Integer("Calls Today"), 'get_agent_figure')
    today_talk_seconds = fields.Function(
        fields.Float("Talk Today (s)", digits=(16, 0)), 'get_agent_figure')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('state', 'ASC'), ('id', 'ASC')]
        cls._buttons.update({name: {} for name in [
                    'listen', 'whisper', 'barge', 'force_not_ready',
                    'force_sign_out', 'force_hangup']})

    @classmethod
    def table_query(cls):
        "One row per active agent, with the agent's id."
        agent = Pool().get('cc.agent').__table__()
        return agent.select(agent.id.as_('id'), agent.id.as_('agent'),
            agent.team, agent.state, agent.state_reason, agent.state_since,
            agent.create_uid, agent.create_date, agent.write_uid,
            agent.write_date, where=agent.active == Literal(True))

    @classmethod
    def get_agent_figure(cls, boards, names):
        Agent = Pool().get('cc.agent')
        agents = Agent.browse([b.id for b in boards])
        return {n: {a.id: getattr(a, n) for a in agents} for n in names}

    @classmethod
    def _agents(cls, boards):
        return Pool().get('cc.agent').browse([b.id for b in boards])

    @classmethod
    @ModelView.button
    def listen(cls, boards):
        Pool().get('cc.agent').spy(cls._agents(boards), 'listen')

    @classmethod
    @ModelView.button
    def whisper(cls, boards):
        Pool().get('cc.agent').spy(cls._agents(boards), 'whisper')

    @classmethod
    @ModelView.button
    def barge(cls, boards):
        Pool().get('cc.agent').spy(cls._agents(boards), 'barge')

    @classmethod
    @ModelView.button_action('cc_telephony.wizard_agent_not_ready')
    def force_not_ready(cls, boards):
        Pool().get('cc.agent')._check_supervisor()

    @classmethod
    @ModelView.button
    def force_sign_out(cls, boards):
        Pool().get('cc.agent').force_sign_out(cls._agents(boards))

    @classmethod
    @ModelView.button
    def force_hangup(cls, boards):
        Pool().get('cc.agent').force_hangup(cls._agents(boards))
