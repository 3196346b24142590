"""Asyncio FastAGI server: Asterisk's ``AGI(agi://host:port/script)``.

Protocol (docs.asterisk.org, "AGI Commands"): Asterisk connects, sends
``agi_*: value`` lines closed by an empty line, then waits for commands, one
per line, each answered by ``200 result=N [(data)]`` or an error code (510
unknown command, 511 dead channel, 520 usage).  When the caller hangs up,
Asterisk writes ``HANGUP`` on a line of its own before further replies.
"""
import asyncio
import logging
import re

logger = logging.getLogger(__name__)

ENV_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0
MAX_ENV_LINES = 200
REPLY = re.compile(r'^200 result=(-?\d+)(?: \((.*)\))?')


class AGIError(Exception):
    "Asterisk refused a command (non-200 reply)."


class AGIHangup(AGIError):
    "The channel hung up: no further command can succeed."


def quote_arg(value):
    """Quote one command argument the way Asterisk's parser unquotes it.

    A line break would end the command early and let the rest be read as
    another command, so it is refused.
    """
    text = str(value)
    if '\n' in text or '\r' in text:
        raise ValueError('line break in AGI argument')
    return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'


# What Asterisk's argument parser (ast_app_separate_args) interprets in a
# function's value: the separator, quotes, backslash, brackets.
ARRAY_SPECIAL = frozenset('\\",()[]')
VARIABLE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*$')


def array_assignment(variables):
    """(name, value) of one ``SET VARIABLE`` that sets all ``variables``
    through Asterisk's ``ARRAY()`` function (func_strings.c): the value's
    comma-separated fields go to the names in order. Special characters in
    a value are escaped with a backslash, which Asterisk removes; a comma
    of ``CC_REASON`` thus stays inside its field."""
    names = list(variables)
    for name in names:
        if not VARIABLE_NAME.match(name):
            raise ValueError(f'not a channel variable name: {name!r}')
    fields = (''.join('\\' + c if c in ARRAY_SPECIAL else c
            for c in str(value)) for value in variables.values())
    return f'ARRAY({",".join(names)})', ','.join(fields)


def split_array(name, value):
    """The variables an ``ARRAY(…)`` assignment sets, parsed as Asterisk
    does (a backslash keeps the next character, quotes are removed, commas
    inside quotes or brackets do not separate); missing fields set ''.
    None when ``name`` is not an ARRAY() call. For the PBX simulator and
    the tests."""
    if not (name.startswith('ARRAY(') and name.endswith(')')):
        return None
    names = name[len('ARRAY('):-1].split(',')
    fields, field = [], []
    paren = bracket = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            field.append(char)
            escaped = False
        elif char == '\\':
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ',' and not (quoted or paren or bracket):
            fields.append(''.join(field))
            field = []
        else:
            if char == '(':
                paren += 1
            elif char == ')' and paren:
                paren -= 1
            elif char == '[':
                bracket += 1
            elif char == ']' and bracket:
                bracket -= 1
            field.append(char)
    fields.append(''.join(field))
    return {n: fields[i] if i < len(fields) else ''
        for i, n in enumerate(names)}


def split_command(line):
    """Split a command line into words, honouring quotes and backslashes.

    This mirrors Asterisk's ``parse_args``; the PBX simulator uses it to
    read what the router sends.
    """
    words, word, quoted, escaped, started = [], [], False, False, False
    for char in line:
        if escaped:
            word.append(char)
            escaped = False
        elif char == '\\':
            escaped = started = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if started:
                words.append(''.join(word))
            word, started = [], False
        else:
            word.append(char)
            started = True
    if started:
        words.append(''.join(word))
    return words


def parse_reply(line):
    "Return (result, data) of a 200 reply; raise AGIError otherwise."
    match = REPLY.match(line)
    if match is None:
        if line.startswith('511'):
            raise AGIHangup(line)
        raise AGIError(line)
    return int(match.group(1)), match.group(2)


async def read_environment(reader, timeout=ENV_TIMEOUT):
    """Read the ``agi_*`` lines up to the empty line; return a dict.

    Malformed lines are logged and skipped.  Return None when the peer
    closes before the empty line, or sends no ``agi_request``; raise
    TimeoutError when the whole environment takes over ``timeout``.
    """
    # One deadline for the whole environment: wait_for per line would
    # create a task for each of its 25 lines, for every call.
    async with asyncio.timeout(timeout):
        return await _read_environment(reader)


async def _read_environment(reader):
    env = {}
    for _ in range(MAX_ENV_LINES):
        raw = await reader.readline()
        if not raw.endswith(b'\n'):
            logger.warning('AGI peer closed inside its environment')
            return None
        line = raw.decode('utf-8', 'replace').rstrip('\r\n')
        if not line:
            break
        key, sep, value = line.partition(': ')
        if sep and key.startswith('agi_'):
            env[key] = value
        else:
            logger.warning('malformed AGI environment line: %r', line[:120])
    else:
        logger.warning('AGI environment over %d lines', MAX_ENV_LINES)
        return None
    if 'agi_request' not in env:
        logger.warning('AGI request without agi_request: %r', env)
        return None
    return env


class AGIChannel:
    """The commands a handler sends to the channel being routed."""

    def __init__(self, reader, writer, timeout=COMMAND_TIMEOUT):
        self.reader, self.writer = reader, writer
        self.timeout = timeout
        self.hung_up = False

    async def command(self, *words):
        "Send one command; return (result, data) of its 200 reply."
        if self.hung_up:
            raise AGIHangup('channel already hung up')
        self.writer.write((' '.join(words) + '\n').encode('utf-8'))
        await self.writer.drain()
        return parse_reply(await self._reply_line())

    async def _reply_line(self):
        # asyncio.timeout rather than wait_for: no task per reply line.
        async with asyncio.timeout(self.timeout):
            return await self._next_reply_line()

    async def _next_reply_line(self):
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise AGIHangup('connection closed')
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            if line == 'HANGUP':
                self.hung_up = True
            elif line.startswith('520-'):
                await self._skip_usage()
                return '520 invalid command syntax'
            else:
                return line

    async def _skip_usage(self):
        "Skip the usage text Asterisk sends after ``520-``."
        while True:
            raw = await self.reader.readline()
            if not raw or raw.startswith(b'520 '):
                return

    async def set_variable(self, name, value):
        await self.command('SET VARIABLE', quote_arg(name), quote_arg(value))

    async def set_variables(self, variables, combined=False):
        """Set channel variables: one ``SET VARIABLE`` each, or with
        ``combined`` one for all (``array_assignment``). Each command is a
        round trip: Asterisk reads the next one only after answering, and
        one sent ahead can wait in its input buffer."""
        if combined:
            await self.set_variable(*array_assignment(variables))
            return
        for name, value in variables.items():
            await self.set_variable(name, value)

    async def get_variable(self, name):
        "Return the variable's value, or None if it is not set."
        result, data = await self.command('GET VARIABLE', quote_arg(name))
        return data if result == 1 else None

    async def verbose(self, message, level=1):
        await self.command('VERBOSE', quote_arg(message), str(level))

    async def exec(self, application, options=''):
        "Run a dialplan application; return its result code."
        result, _ = await self.command(
            'EXEC', quote_arg(application), quote_arg(options))
        return result


async def serve(handler, host='127.0.0.1', port=4573):
    """Start a FastAGI server; return the ``asyncio.Server``.

    ``handler(env, agi)`` is awaited for each request with the ``agi_*``
    environment and an AGIChannel.  A malformed request, a hangup or an
    exception in the handler closes that connection only.
    """
    async def connection(reader, writer):
        try:
            env = await read_environment(reader)
            if env is not None:
                await handler(env, AGIChannel(reader, writer))
        except AGIHangup as error:
            logger.info('AGI channel hung up: %s', error)
        except (asyncio.TimeoutError, ConnectionError) as error:
            logger.warning('AGI connection lost: %r', error)
        except Exception:
            logger.exception('AGI handler failed')
        finally:
            writer.close()
    return await asyncio.start_server(connection, host, port)
