"""Send a few AMI actions over a short-lived connection.

The console acts on behalf of one agent at a time, from a trytond worker
thread: a connection per request (banner, Login, the actions, Logoff) keeps
no state between requests and needs no thread of its own. The bridge keeps
its long-lived ``ami.AMIClient`` for events; nothing here touches it.
"""
import asyncio
import itertools

from .ami import AMIError, FrameDecoder, Response, serialize

__all__ = ['AMIError', 'perform', 'run']

_ids = itertools.count(1)


class _Link:
    "One AMI connection that answers actions in order."

    def __init__(self, reader, writer, timeout):
        self.reader, self.writer = reader, writer
        self.timeout = timeout
        self.decoder = FrameDecoder()
        self.waiting = []

    async def action(self, name, headers, check=True):
        """Send one action and return its Response (with the events of a
        list action); with ``check`` an Error response raises AMIError."""
        action_id = f'cc-console-{next(_ids)}'
        self.writer.write(serialize(
                {'Action': name, 'ActionID': action_id, **headers}))
        await self.writer.drain()
        response = await asyncio.wait_for(
            self._response(action_id), self.timeout)
        if check and response.get('Response') == 'Error':
            raise AMIError(response.get('Message') or name)
        return response

    async def _response(self, action_id):
        "The Response to ``action_id``; unrelated events are skipped."
        response = None
        while True:
            message = await self._next()
            if message.get('ActionID') != action_id:
                continue
            if response is None and 'Response' in message:
                response = Response(message)
                if not (response.ok and response.is_list):
                    return response
            elif response is not None and 'Event' in message:
                if message.get('EventList', '').lower() == 'complete':
                    return response
                response.events.append(message)

    async def _next(self):
        while not self.waiting:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError('AMI server closed the connection')
            self.waiting.extend(self.decoder.feed(data))
        return self.waiting.pop(0)


async def perform(host, port, username, secret, actions, timeout=5.0):
    """Log in, send ``actions`` in order and return their responses.

    Each action is ``(name, headers)`` or ``(name, headers, check)``; with
    ``check`` False an Error response is returned instead of raised (a
    QueueAdd for a queue the agent is already in).

    Raise OSError/ConnectionError/asyncio.TimeoutError when the PBX cannot
    be reached and AMIError when it refuses the login or a checked action:
    the actions after a refused one are not sent."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), timeout)
    link = _Link(reader, writer, timeout)
    try:
        await link.action('Login', {'Username': username, 'Secret': secret,
                'Events': 'off'})
        responses = [await link.action(*action) for action in actions]
        try:
            await link.action('Logoff', {})
        except (AMIError, ConnectionError, asyncio.TimeoutError):
            pass  # The work is done; a sloppy goodbye does not undo it.
        return responses
    finally:
        writer.close()


def run(host, port, username, secret, actions, timeout=5.0):
    "Blocking form of ``perform`` for code outside an event loop."
    return asyncio.run(
        perform(host, port, username, secret, actions, timeout))
