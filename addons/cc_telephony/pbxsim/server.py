"""The AMI server of the simulator: banner, login, actions, events."""
import asyncio
import logging

from ..ami import FrameDecoder, serialize

logger = logging.getLogger(__name__)

BANNER = b'Asterisk Call Manager/7.0.3\r\n'
# AST_MAX_PUBLIC_UNIQUEID: the longest ChannelId an Originate may assign.
MAX_PUBLIC_UNIQUEID = 149


class AMIServer:
    """Serve AMI for a Simulator; events go to every logged-in client."""

    def __init__(self, simulator, users):
        self.sim = simulator
        self.users = dict(users)
        self.clients = set()
        self.writers = set()
        self.server = None
        simulator.listeners.append(self.broadcast)
        # A restarted PBX has lost its AMI connections too.
        simulator.restart_listeners.append(self.drop_clients)

    async def start(self, host='127.0.0.1', port=0):
        self.server = await asyncio.start_server(self._connection, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.drop_clients()
        self.server.close()
        await self.server.wait_closed()

    def drop_clients(self):
        "Cut every connection, as a PBX restart or a network fault would."
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        self.clients.clear()

    def broadcast(self, event):
        data = serialize(event)
        for writer in list(self.clients):
            writer.write(data)

    def send_raw(self, data):
        "Write bytes as they are to every logged-in client (for tests)."
        for writer in list(self.clients):
            writer.write(data)

    async def _connection(self, reader, writer):
        self.writers.add(writer)
        writer.write(BANNER)
        decoder = FrameDecoder(expect_banner=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for action in decoder.feed(data):
                    if not self._guarded(action, writer):
                        return
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled when the simulator stops; Python 3.11's asyncio
            # logs a cancelled connection task as an error.
            pass
        finally:
            self.clients.discard(writer)
            self.writers.discard(writer)
            writer.close()

    def _guarded(self, action, writer):
        "Perform an action; a simulator bug answers Error, not a dead link."
        try:
            return self._perform(action, writer)
        except Exception:
            logger.exception('action failed: %r', action)
            self._error(writer, {'ActionID': action.get('ActionID', '')},
                'Internal simulator error')
            return True

    def _perform(self, action, writer):
        "Answer one action; return False when the client logged off."
        name = str(action.get('Action', '')).lower()
        reply = {key: action[key] for key in ('ActionID',) if key in action}
        if name == 'login':
            self._login(action, writer, reply)
        elif name == 'logoff':
            writer.write(serialize({'Response': 'Goodbye', **reply,
                'Message': 'Thanks for all the fish.'}))
            return False
        elif writer not in self.clients:
            self._error(writer, reply, 'Permission denied')
        else:
            handler = getattr(self, f'_action_{name}', None)
            if handler is None:
                self._error(writer, reply, 'Invalid/unknown command')
            else:
                handler(action, writer, reply)
        return True

    def _ok(self, writer, reply, message='', **extra):
        writer.write(serialize({'Response': 'Success', **reply,
            **({'Message': message} if message else {}), **extra}))

    def _error(self, writer, reply, message):
        writer.write(serialize({'Response': 'Error', **reply,
            'Message': message}))

    def _login(self, action, writer, reply):
        if self.users.get(action.get('Username')) != action.get('Secret'):
            logger.warning('AMI login refused for %r', action.get('Username'))
            self._error(writer, reply, 'Authentication failed')
            return
        self._ok(writer, reply, 'Authentication accepted')
        self.clients.add(writer)
        writer.write(serialize({'Event': 'FullyBooted',
            'Privilege': 'system,all',
            'Timestamp': f'{self.sim.timestamp():.6f}', 'Uptime': '1',
            'LastReload': '1', 'Status': 'Fully Booted'}))

    def _action_ping(self, action, writer, reply):
        self._ok(writer, reply, Ping='Pong',
            Timestamp=f'{self.sim.timestamp():.6f}')

    def _action_corestatus(self, action, writer, reply):
        "As Asterisk's manager.c: start and reload in the PBX's local time."
        started, reloaded = (self.sim.local(when)
            for when in (self.sim.started, self.sim.reloaded))
        writer.write(serialize({'Response': 'Success', **reply,
            'CoreStartupDate': f'{started:%Y-%m-%d}',
            'CoreStartupTime': f'{started:%H:%M:%S}',
            'CoreReloadDate': f'{reloaded:%Y-%m-%d}',
            'CoreReloadTime': f'{reloaded:%H:%M:%S}',
            'CoreCurrentCalls': str(len(self.sim.channels))}))

    def _list(self, writer, reply, message, events, complete):
        self._ok(writer, reply, message, EventList='start')
        for event in events:
            writer.write(serialize({**event, **reply}))
        writer.write(serialize({'Event': complete, **reply,
            'EventList': 'Complete', 'ListItems': str(len(events))}))

    def _action_queuestatus(self, action, writer, reply):
        events = []
        for queue in self.sim.queues.values():
            events.append({'Event': 'QueueParams', 'Queue': queue.name,
                'Max': '0', 'Strategy': queue.strategy,
                'Calls': str(len(queue.waiting))})
            events.extend(self._queue_members(queue))
            for position, caller in enumerate(queue.waiting, 1):
                channel = caller.channel
                events.append({'Event': 'QueueEntry', 'Queue': queue.name,
                    'Position': str(position), 'Channel': channel.name,
                    'Uniqueid': channel.uniqueid,
                    'CallerIDNum': channel.caller_num,
                    'CallerIDName': channel.caller_name or 'unknown',
                    'ConnectedLineNum': 'unknown',
                    'ConnectedLineName': 'unknown',
                    'Wait': str(int((self.sim.now - caller.joined)
                        .total_seconds())),
                    'Priority': str(caller.priority)})
        self._list(writer, reply, 'Queue status will follow', events,
            'QueueStatusComplete')

    def _queue_members(self, queue):
        for member in self.sim.members.values():
            membership = member.memberships.get(queue.name)
            if membership:
                headers = self.sim.member_headers(member, membership)
                headers['Name'] = headers.pop('MemberName')
                headers['Location'] = headers.pop('Interface')
                yield {'Event': 'QueueMember', **headers}

    def _action_coreshowchannels(self, action, writer, reply):
        events = [{'Event': 'CoreShowChannel', **channel.headers(),
            'BridgeId': channel.bridge or '', 'Application': 'AppQueue',
            'ApplicationData': '', 'Duration': str(int((self.sim.now -
                channel.born).total_seconds())), 'AccountCode': ''}
            for channel in self.sim.channels.values()]
        self._list(writer, reply, 'Channels will follow', events,
            'CoreShowChannelsComplete')

    def _action_queuesummary(self, action, writer, reply):
        events = []
        for queue in self.sim.queues.values():
            members = [m for m in self.sim.members.values()
                if queue.name in m.memberships]
            free = self.sim.available(queue)
            longest = max((int((self.sim.now - c.joined).total_seconds())
                for c in queue.waiting), default=0)
            events.append({'Event': 'QueueSummary', 'Queue': queue.name,
                'LoggedIn': str(len(members)), 'Available': str(len(free)),
                'Callers': str(len(queue.waiting)), 'HoldTime': '0',
                'TalkTime': '0', 'LongestHoldTime': str(longest)})
        self._list(writer, reply, 'Queue summary will follow', events,
            'QueueSummaryComplete')

    def _action_queueadd(self, action, writer, reply):
        try:
            added = self.sim.queue_add(action['Queue'], action['Interface'],
                penalty=action.get('Penalty') or 0,
                paused=action.get('Paused', 'false').lower() in ('1', 'true'),
                reason=action.get('Reason', ''),
                name=action.get('MemberName'),
                state_interface=action.get('StateInterface'))
        except KeyError:
            self._error(writer, reply, 'Unable to add interface to queue: '
                'No such queue')
            return
        if added:
            self._ok(writer, reply, 'Added interface to queue')
        else:
            self._error(writer, reply, 'Unable to add interface: '
                'Already there')

    def _action_queueremove(self, action, writer, reply):
        if self.sim.queue_remove(action.get('Queue'), action.get('Interface')):
            self._ok(writer, reply, 'Removed interface from queue')
        else:
            self._error(writer, reply, 'Unable to remove interface: '
                'Not there')

    def _action_queuepause(self, action, writer, reply):
        paused = action.get('Paused', '').lower() in ('1', 'true', 'yes')
        if self.sim.queue_pause(action.get('Interface'), paused,
                action.get('Queue'), action.get('Reason', '')):
            self._ok(writer, reply, 'Interface paused successfully'
                if paused else 'Interface unpaused successfully')
        else:
            self._error(writer, reply, 'Interface not found')

    def _action_originate(self, action, writer, reply):
        """Originate as Asterisk's manager.c checks it, then (Async, as the
        console sends it) queued: OriginateResponse follows as an event."""
        device = action.get('Channel', '')
        ids = [action.get(name) or None
            for name in ('ChannelId', 'OtherChannelId')]
        if not device:
            self._error(writer, reply, 'Channel not specified')
        elif any(len(i) > MAX_PUBLIC_UNIQUEID for i in ids if i):
            self._error(writer, reply, 'Uniqueid length exceeds maximum of '
                f'{MAX_PUBLIC_UNIQUEID}')
        elif not str(action.get('Timeout') or '0').isdigit():
            self._error(writer, reply, 'Invalid timeout')
        elif '/' not in device:
            self._error(writer, reply, 'Invalid channel')
        else:
            self._ok(writer, reply, 'Originate successfully queued')
            self.sim.originate(device, exten=action.get('Exten', ''),
                context=action.get('Context', ''),
                application=action.get('Application', ''),
                data=action.get('Data', ''),
                caller_id=action.get('CallerID', ''), channel_id=ids[0],
                other_channel_id=ids[1],
                timeout=int(action.get('Timeout') or 30000) / 1000,
                action_id=reply.get('ActionID', ''))

    def _channel_action(self, writer, reply, done, success):
        if done:
            self._ok(writer, reply, success)
        else:
            self._error(writer, reply, 'No such channel')

    def _action_hangup(self, action, writer, reply):
        self._channel_action(writer, reply,
            self.sim.hangup_channel(action.get('Channel', '')),
            'Channel Hungup')

    def _action_redirect(self, action, writer, reply):
        self._channel_action(writer, reply, self.sim.redirect(
            action.get('Channel', ''), action.get('Exten', '')),
            'Redirect successful')

    def _action_blindtransfer(self, action, writer, reply):
        self._channel_action(writer, reply, self.sim.blind_transfer_action(
            action.get('Channel', ''), action.get('Exten', '')),
            'Transfer succeeded')

    def _action_atxfer(self, action, writer, reply):
        self._channel_action(writer, reply, self.sim.atxfer(
            action.get('Channel', ''), action.get('Exten', '')),
            'Atxfer successfully queued')
