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


# GET DATA answers the keys themselves (res_agi.c handle_getdata):
# "200 result=<keys>", "200 result=<keys> (timeout)" when the timeout ended
# the input (no key at all: "200 result= (timeout)"), "200 result=-1" when
# the prompt could not be played or the channel hung up.
DATA_REPLY = re.compile(r'^200 result=(-1|[0-9A-D*#]*)(?: \((timeout)\))?$')
# STREAM FILE answers "200 result=<ASCII code of the key, 0, -1>
# endpos=<sample>" (handle_streamfile); WAIT FOR DIGIT "200 result=<ASCII
# code, 0 on timeout, -1>" (handle_waitfordigit).
KEY_REPLY = re.compile(r'^200 result=(-?\d+)(?: endpos=(\d+))?')
# A prompt plays for a while before its input timeout starts: the reply to
# a prompt command is awaited this many seconds beyond that timeout.
PROMPT_SECONDS = 120.0


class AGIError(Exception):
    "Asterisk refused a command (non-200 reply)."


class AGIHangup(AGIError):
    "The channel hung up: no further command can succeed."


def quote_arg(value):
    """Quote one command argument the way Asterisk's parser unquotes it
    (res_agi.c ``parse_args``: inside quotes a space is kept, a backslash
    keeps the next character, so ``\\`` and ``\"`` are escaped).

    A line break would end the command early and let the rest be read as
    another command, and a NUL ends the C string there, so both are
    refused.
    """
    text = str(value)
    if '\n' in text or '\r' in text or '\0' in text:
        raise ValueError('line break or NUL in AGI argument')
    return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'


# What Asterisk's argument parser (main/app.c __ast_app_separate_args, with
# remove_chars) interprets in ARRAY()'s value: the separator, quotes,
# backslash, brackets. Each is sent behind a backslash, which it removes.
ARRAY_SPECIAL = frozenset('\\",()[]')
# func_strings.c array() declares AST_APP_ARG(var)[100]: the separator
# splits 99 fields, the 100th would get the rest unparsed.
ARRAY_FIELDS_MAX = 99
# res_agi.c reads a command with fgets into char buf[AGI_BUF_LEN] (2048):
# 2,047 bytes with the line feed; the rest of a longer line is read as the
# next command.
LINE_BYTES_MAX = 2047
VARIABLE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*$')


def array_assignment(variables):
    """(name, value) of one ``SET VARIABLE`` that sets all ``variables``
    through Asterisk's ``ARRAY()`` function (func_strings.c ``array``): the
    value's comma-separated fields go to the names in order. Special
    characters in a value are escaped with a backslash, which Asterisk
    removes; a comma of ``CC_REASON`` thus stays inside its field."""
    names = list(variables)
    if not 0 < len(names) <= ARRAY_FIELDS_MAX:
        raise ValueError(f'ARRAY() sets 1 to {ARRAY_FIELDS_MAX} variables')
    for name in names:
        if not VARIABLE_NAME.match(name):
            raise ValueError(f'not a channel variable name: {name!r}')
    fields = (''.join('\\' + c if c in ARRAY_SPECIAL else c
            for c in str(value)) for value in variables.values())
    return f'ARRAY({",".join(names)})', ','.join(fields)


def command_line(*words):
    """The bytes of one AGI command; ValueError when Asterisk would not
    read it whole (over LINE_BYTES_MAX)."""
    line = (' '.join(words) + '\n').encode('utf-8')
    if len(line) > LINE_BYTES_MAX:
        raise ValueError(f'AGI command of {len(line)} bytes, over '
            f'{LINE_BYTES_MAX}')
    return line


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
        return await self._send(command_line(*words))

    async def _send(self, line):
        if self.hung_up:
            raise AGIHangup('channel already hung up')
        self.writer.write(line)
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
        one sent ahead can wait in its input buffer. A combined command
        Asterisk could not read whole (too long, too many fields) is sent
        as one command per variable instead."""
        if combined:
            try:
                line = command_line('SET VARIABLE',
                    *map(quote_arg, array_assignment(variables)))
            except ValueError as error:
                logger.info('one command per variable: %s', error)
            else:
                await self._send(line)
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

    async def raw_command(self, *words, timeout=None):
        """Send one command; return its reply line as Asterisk wrote it
        (for replies parse_reply does not read: GET DATA's keys), waiting
        ``timeout`` seconds (default: the channel's). A 511 reply raises
        AGIHangup."""
        if self.hung_up:
            raise AGIHangup('channel already hung up')
        self.writer.write(command_line(*words))
        await self.writer.drain()
        async with asyncio.timeout(timeout or self.timeout):
            line = await self._next_reply_line()
        if line.startswith('511'):
            raise AGIHangup(line)
        return line

    async def answer(self):
        "ANSWER the channel (prompts need an answered channel)."
        result, _ = await self.command('ANSWER')
        return result

    async def get_data(self, prompt, timeout, max_digits=1):
        """``GET DATA``: play ``prompt`` and collect up to ``max_digits``
        keys, ``timeout`` seconds after it. Return (keys, timed_out); keys
        is None when Asterisk answered -1 (prompt not played, or hung
        up: the next command tells)."""
        line = await self.raw_command('GET DATA', quote_arg(prompt),
            str(int(timeout * 1000)), str(int(max_digits)),
            timeout=timeout + PROMPT_SECONDS)
        match = DATA_REPLY.match(line)
        if match is None:
            raise AGIError(line)
        keys, timed_out = match.group(1), bool(match.group(2))
        return (None if keys == '-1' else keys), timed_out

    async def stream_file(self, name, escape_digits=''):
        """``STREAM FILE``: play ``name``; a key of ``escape_digits``
        interrupts it. Return the key, '' when it played to its end, None
        when Asterisk answered -1 (no such file, or hung up)."""
        line = await self.raw_command('STREAM FILE', quote_arg(name),
            quote_arg(escape_digits), timeout=PROMPT_SECONDS)
        return self._key(line)

    async def wait_for_digit(self, timeout):
        """``WAIT FOR DIGIT``: the key pressed within ``timeout`` seconds,
        '' when none, None when Asterisk answered -1."""
        line = await self.raw_command('WAIT FOR DIGIT',
            str(int(timeout * 1000)), timeout=timeout + self.timeout)
        return self._key(line)

    @staticmethod
    def _key(line):
        match = KEY_REPLY.match(line)
        if match is None:
            raise AGIError(line)
        code = int(match.group(1))
        return None if code < 0 else chr(code) if code else ''


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
