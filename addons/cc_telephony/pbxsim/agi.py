"""The Asterisk side of FastAGI: what ``AGI(agi://host:port/script)`` does.

Sends the channel's ``agi_*`` environment, then answers each command the
router sends until it closes the connection.
"""
import asyncio
import logging
from urllib.parse import urlparse

from ..fastagi import split_command

logger = logging.getLogger(__name__)

TIMEOUT = 5.0


def environment(url, channel):
    parsed = urlparse(url)
    values = [
        ('network', 'yes'), ('network_script', parsed.path.lstrip('/')),
        ('request', url), ('channel', channel.name), ('language', 'zh'),
        ('type', channel.name.split('/')[0]), ('uniqueid', channel.uniqueid),
        ('version', '18.20.0'), ('callerid', channel.caller_num or 'unknown'),
        ('calleridname', channel.caller_name or 'unknown'),
        ('callingpres', '0'), ('callingani2', '0'), ('callington', '0'),
        ('callingtns', '0'), ('dnid', channel.exten), ('rdnis', 'unknown'),
        ('context', channel.context), ('extension', channel.exten),
        ('priority', '1'), ('enhanced', '0.0'), ('accountcode', ''),
        ('threadid', '140000000000000')]
    lines = [f'agi_{key}: {value}\n' for key, value in values]
    return (''.join(lines) + '\n').encode('utf-8')


def reply(words, channel, on_set):
    "Asterisk's answer line to one command."
    command = ' '.join(words[:2]).upper()
    if command == 'SET VARIABLE' and len(words) == 4:
        on_set(words[2], words[3])
        return '200 result=1'
    if command == 'GET VARIABLE' and len(words) == 3:
        value = channel.variables.get(words[2])
        return '200 result=0' if value is None else f'200 result=1 ({value})'
    verb = words[0].upper() if words else ''
    if verb == 'VERBOSE':
        return '200 result=1'
    if verb in ('ANSWER', 'NOOP') or (verb == 'EXEC' and len(words) >= 2):
        return '200 result=0'
    return '510 Invalid or unknown command'


async def route(url, channel, on_set, timeout=TIMEOUT):
    """Run one AGI conversation for ``channel``.

    ``on_set(name, value)`` is called for each SET VARIABLE, as Asterisk
    sets the channel variable (and emits VarSet) there.
    """
    parsed = urlparse(url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        parsed.hostname, parsed.port or 4573), timeout)
    try:
        writer.write(environment(url, channel))
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            if not raw:
                return
            line = raw.decode('utf-8', 'replace').strip()
            answer = reply(split_command(line), channel, on_set)
            writer.write((answer + '\n').encode('utf-8'))
            await writer.drain()
    finally:
        writer.close()
