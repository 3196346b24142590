"""Asterisk Manager Interface (AMI): wire format and an asyncio client.

The wire format (docs.asterisk.org, "AMI Protocol"): the server greets with
one line ``Asterisk Call Manager/x.y``; every message is a list of
``Key: Value`` lines ended by CRLF and closed by an empty line.  Actions carry
an ``ActionID`` which Asterisk copies into the response and, for list actions
such as ``QueueStatus``, into every event of the list.
"""
import asyncio
import itertools
import logging

logger = logging.getLogger(__name__)

EOL = b'\r\n'
BANNER_PREFIX = 'Asterisk Call Manager/'
# A frame bigger than this without its closing blank line is garbage or an
# attack; it is dropped instead of growing the buffer without end.
MAX_FRAME_BYTES = 64 * 1024


class AMIError(Exception):
    "An action answered with ``Response: Error``."


def serialize(message):
    """Return the wire bytes of a message given as a mapping.

    A list value is written as repeated keys (``Variable`` of ``Originate``).
    CR or LF inside a key or value would let caller-supplied text (a pause
    reason, a caller id) inject headers, so they are refused.
    """
    lines = []
    for key, value in message.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            text = f'{key}: {item}'
            if '\r' in text or '\n' in text:
                raise ValueError(f'line break in AMI header {key!r}')
            lines.append(text.encode('utf-8') + EOL)
    return b''.join(lines) + EOL


# Keys the client and the tracker read as one string: Asterisk never repeats
# them, and a frame that does cannot be dispatched.
SINGLE_KEYS = frozenset(('Event', 'Response', 'Action', 'ActionID',
        'EventList'))


def parse_frame(text):
    """Return the message dict of one frame's text, or None if malformed.

    Repeated keys become a list, as AMI repeats ``ChanVariable`` and the
    like.  A line without ``": "``, a frame with none of ``Event``,
    ``Response`` or ``Action``, or one repeating a key that says what the
    frame is (SINGLE_KEYS) is malformed.
    """
    message = {}
    for line in text.split('\r\n'):
        key, sep, value = line.partition(': ')
        if not sep or not key.strip():
            return None
        if key in message and key in SINGLE_KEYS:
            return None
        if key in message:
            previous = message[key]
            message[key] = (previous if isinstance(previous, list)
                else [previous]) + [value]
        else:
            message[key] = value
    if not message.keys() & {'Event', 'Response', 'Action'}:
        return None
    return message


class FrameDecoder:
    """Turn a byte stream from the server into messages.

    Frames are split on bytes and decoded only once complete, so a UTF-8
    character cut between two TCP reads (a Chinese caller name) survives.
    """

    def __init__(self, expect_banner=True):
        self.buffer = b''
        # The server side reads actions: there is no banner to wait for.
        self.banner = None if expect_banner else ''
        self.discarding = False

    def feed(self, data):
        "Return the messages completed by ``data``; malformed ones are logged."
        self.buffer += data.replace(b'\r\n', b'\n').replace(b'\n', EOL)
        if self.banner is None and not self._read_banner():
            return []
        messages = []
        while True:
            end = self.buffer.find(EOL + EOL)
            if end < 0:
                self._guard_size()
                return messages
            frame, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            message = self._decode(frame)
            if message is not None:
                messages.append(message)

    def _read_banner(self):
        end = self.buffer.find(EOL)
        if end < 0:
            return False
        line = self.buffer[:end].decode('utf-8', 'replace')
        if line.startswith(BANNER_PREFIX):
            self.banner = line
            self.buffer = self.buffer[end + 2:]
        else:
            logger.warning('AMI server sent no banner, got %r', line[:80])
            self.banner = ''
        return True

    def _decode(self, frame):
        if self.discarding:
            self.discarding = False
            logger.warning('dropped the tail of an oversized AMI frame')
            return None
        text = frame.decode('utf-8', 'replace').strip('\r\n')
        if not text:
            return None
        message = parse_frame(text)
        if message is None:
            logger.warning('malformed AMI frame skipped: %r', text[:200])
        return message

    def _guard_size(self):
        if len(self.buffer) > MAX_FRAME_BYTES:
            logger.warning('AMI frame over %d bytes dropped', MAX_FRAME_BYTES)
            self.buffer = b''
            self.discarding = True


def backoff_delays(initial=0.5, maximum=30.0, factor=2.0):
    "Yield reconnect delays growing exponentially up to ``maximum``."
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * factor)


def channel_uniqueids(events):
    "The Uniqueids of the channels listed by ``CoreShowChannels``."
    return {event['Uniqueid'] for event in events if 'Uniqueid' in event}


class Response(dict):
    """An action's response; ``events`` holds the events of a list action."""

    def __init__(self, headers):
        super().__init__(headers)
        self.events = []
        # How many unsolicited events the client had dispatched when this
        # answer was complete: where the answer sits in the event stream.
        self.events_before = None

    @property
    def ok(self):
        return self.get('Response') in ('Success', 'Goodbye')

    @property
    def is_list(self):
        return self.get('EventList', '').lower() == 'start'


class AMIClient:
    """Asyncio AMI client that stays connected.

    ``on_event(message)`` receives every unsolicited event (it may return an
    awaitable).  ``on_resync(client)`` is awaited after every successful
    login, first or after a cut, so the caller can rebuild its state from
    ``QueueStatus``: Asterisk does not replay the events a client missed.
    """

    def __init__(self, host, port, username, secret, on_event=None,
            on_resync=None, initial_delay=0.5, max_delay=30.0,
            ping_interval=20.0, action_timeout=10.0):
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.on_event = on_event
        self.on_resync = on_resync
        self.initial_delay, self.max_delay = initial_delay, max_delay
        self.ping_interval = ping_interval
        self.action_timeout = action_timeout
        self.banner = None
        self.connections = 0
        self.connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending = {}
        self._lists = {}
        self._writer = None
        self._task = None
        self._logged_in = False
        self.events_dispatched = 0

    def start(self):
        "Start connecting in the background; return the running task."
        self._task = asyncio.ensure_future(self._run())
        return self._task

    async def close(self):
        "Stop reconnecting and close the connection."
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._drop()

    async def action(self, name, **headers):
        """Send action ``name`` and return its Response.

        Raise AMIError on ``Response: Error`` and ConnectionError if the link
        breaks before the answer: the action is never re-sent on its own
        because re-sending an Originate would place a second call.
        """
        if self._writer is None:
            raise ConnectionError('AMI not connected')
        action_id = f'cc-{next(self._ids)}'
        future = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        message = {'Action': name, 'ActionID': action_id, **headers}
        try:
            self._writer.write(serialize(message))
            response = await asyncio.wait_for(future, self.action_timeout)
        finally:
            self._pending.pop(action_id, None)
            self._lists.pop(action_id, None)
        if response.get('Response') == 'Error':
            raise AMIError(response.get('Message', name))
        return response

    async def queue_status(self):
        "Return the events of a ``QueueStatus`` list action."
        return (await self.action('QueueStatus')).events

    async def live_channels(self):
        "Return the Uniqueids of the channels up now (``CoreShowChannels``)."
        return channel_uniqueids((await self.action('CoreShowChannels')).events)

    async def _run(self):
        delays = backoff_delays(self.initial_delay, self.max_delay)
        while True:
            self._logged_in = False
            try:
                await self._session()
            except (OSError, asyncio.TimeoutError, AMIError,
                    ConnectionError) as error:
                logger.warning('AMI %s:%s: %s', self.host, self.port, error)
            except Exception:
                # A failing resync hook must not end the reconnect loop.
                logger.exception('AMI session %s:%s failed', self.host,
                    self.port)
            finally:
                self._drop()
            if self._logged_in:
                # The link worked: a new cut starts the backoff afresh.
                delays = backoff_delays(self.initial_delay, self.max_delay)
            delay = next(delays)
            logger.info('AMI reconnect in %.2f s', delay)
            await asyncio.sleep(delay)

    async def _session(self):
        "Run one connection until it fails."
        reader, self._writer = await asyncio.open_connection(
            self.host, self.port)
        self.connections += 1
        decoder = FrameDecoder()
        reading = asyncio.ensure_future(self._read(reader, decoder))
        tasks = [reading]
        try:
            await self.action(
                'Login', Username=self.username, Secret=self.secret,
                Events='on')
            self._logged_in = True
            self.banner = decoder.banner
            if self.on_resync is not None:
                await self.on_resync(self)
            self.connected.set()
            if self.ping_interval:
                tasks.append(asyncio.ensure_future(self._keepalive()))
            done, _ = await asyncio.wait(
                tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()

    async def _read(self, reader, decoder):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError('AMI server closed the connection')
                for message in decoder.feed(data):
                    await self._dispatch(message)
        finally:
            # Wake whoever awaits an answer that will now never come.
            self._fail_pending()

    async def _keepalive(self):
        "Ping so that a silently dead link is noticed and replaced."
        while True:
            await asyncio.sleep(self.ping_interval)
            await self.action('Ping')

    async def _dispatch(self, message):
        action_id = message.get('ActionID')
        future = self._pending.get(action_id)
        if future is None or future.done():
            if 'Response' in message:
                logger.debug('AMI response to nobody: %r', message)
            elif self.on_event is not None:
                self.events_dispatched += 1
                await self._call_handler(message)
        elif action_id in self._lists:
            self._collect(action_id, future, message)
        elif 'Response' in message:
            self._answer(action_id, future, Response(message))
        else:
            logger.debug('AMI event for an unfinished action: %r', message)

    def _answer(self, action_id, future, response):
        if response.ok and response.is_list:
            self._lists[action_id] = response
        else:
            response.events_before = self.events_dispatched
            future.set_result(response)

    def _collect(self, action_id, future, event):
        "Add an event to a list action's answer; finish on its Complete."
        response = self._lists[action_id]
        if event.get('EventList', '').lower() == 'complete':
            del self._lists[action_id]
            response.events_before = self.events_dispatched
            future.set_result(response)
        else:
            response.events.append(event)

    async def _call_handler(self, message):
        try:
            result = self.on_event(message)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            # A bug in one consumer must not cost every later event.
            logger.exception('AMI event handler failed on %r', message)

    def _drop(self):
        self.connected.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._fail_pending()

    def _fail_pending(self):
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError('AMI connection lost'))
        self._pending.clear()
        self._lists.clear()
