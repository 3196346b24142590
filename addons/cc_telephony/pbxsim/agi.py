"""The Asterisk side of FastAGI: what ``AGI(agi://host:port/script)`` does.

Sends the channel's ``agi_*`` environment, then answers each command the
router sends until it closes the connection.

The parsing is Asterisk's, ported from its C source rather than shared with
the router's encoder (fastagi.py), so that tests of the router against the
simulator are not circular: ``parse_args`` (res/res_agi.c), ``SET
VARIABLE`` (res_agi.c ``handle_setvariable`` → main/pbx_variables.c
``pbx_builtin_setvar_helper`` → main/pbx_functions.c ``ast_func_write``,
``func_args``) and ``ARRAY()`` (funcs/func_strings.c ``array`` over main/app.c
``__ast_app_separate_args``).
"""
import asyncio
import logging
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

TIMEOUT = 5.0
# res_agi.c: char buf[AGI_BUF_LEN] read with fgets, at most 2,047 bytes a
# command; MAX_ARGS words.
AGI_BUF_LEN = 2048
MAX_ARGS = 128
# func_strings.c array(): AST_APP_ARG(var)[100] and AST_APP_ARG(val)[100].
ARRAY_ARGS = 100


def parse_args(line):
    """The words of a command line, as res_agi.c ``parse_args`` splits it:
    only space and tab separate; double quotes group (and, opening after
    whitespace, start a word, even an empty one); a backslash makes the next
    character literal and is dropped; a backslash at the end is dropped."""
    words, word = [], None
    quoted = escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and word is None:
                word = []
            continue
        if char in ' \t' and not quoted and not escaped:
            if word is not None:
                words.append(''.join(word))
            word = None
            continue
        if char == '\\' and not escaped:
            escaped = True
            continue
        # "normal:" in the C source
        if word is None:
            if len(words) >= MAX_ARGS - 1:
                # "Too many arguments, truncating": the character is lost.
                continue
            word = []
        word.append(char)
        escaped = False
    if word is not None:
        words.append(''.join(word))
    return words


def separate_args(text, delim=',', limit=ARRAY_ARGS):
    """Fields of ``text`` as main/app.c ``__ast_app_separate_args`` (with
    ``remove_chars``, what AST_STANDARD_APP_ARGS uses) splits them, ported
    line by line on a C-like buffer: the delimiter separates only outside
    quotes, parentheses and brackets (which are counted even inside
    quotes); quotes are removed; a backslash is removed and the character
    after it kept without being interpreted. An empty text has no field; a
    delimiter at the end adds an empty one. Past ``limit - 1`` fields the
    rest is the last field, unparsed."""
    buf = list(text) + ['\0', '\0']
    starts = []
    paren = bracket = quote = 0
    scan, wasdelim = 0, None

    def memmove_left(at):
        # memmove(scan, scan + 1, strlen(scan)): the terminator stays.
        del buf[at]
        buf.append('\0')

    while buf[scan] != '\0' and len(starts) < limit - 1:
        starts.append(scan)
        while buf[scan] != '\0':
            char = buf[scan]
            if char == '(':
                paren += 1
            elif char == ')':
                if paren:
                    paren -= 1
            elif char == '[':
                bracket += 1
            elif char == ']':
                if bracket:
                    bracket -= 1
            elif char == '"' and delim != '"':
                quote = 0 if quote else 1
                memmove_left(scan)
                scan -= 1
            elif char == '\\':
                # "Literal character, don't parse": scan++ skips it.
                memmove_left(scan)
            elif char == delim and not paren and not quote and not bracket:
                wasdelim = scan
                buf[scan] = '\0'
                scan += 1
                break
            scan += 1
    # "If the last character in the original string was the delimiter,
    # then there is one additional argument."
    if buf[scan] != '\0' or (scan > 0 and scan - 1 == wasdelim):
        starts.append(scan)
    return [''.join(buf[start:buf.index('\0', start)]) for start in starts]


def func_args(function):
    """(name, arguments) of ``NAME(args)`` as main/pbx_functions.c
    ``func_args`` cuts it: from the first '(' to the last ')'."""
    name, paren, args = function.partition('(')
    if not paren:
        return name, None
    if ')' in args:
        args = args[:args.rindex(')')]
    return name, args


def array(names, value, setvar):
    """func_strings.c ``array``: the names and the values are both split
    by AST_STANDARD_APP_ARGS; each name gets its value in order, names
    without a value get ''; values without a name are ignored."""
    values = separate_args(value)
    for i, name in enumerate(separate_args(names)):
        setvar(name, values[i] if i < len(values) else '')


def setvar_helper(name, value, setvar, channel=None):
    """main/pbx_variables.c ``pbx_builtin_setvar_helper``: a name ending in
    ')' is a function written with ``ast_func_write``; the simulator knows
    ARRAY and CHANNEL(language) (func_channel.c: the channel's language,
    no VarSet), as registered (case-sensitive, like
    ``ast_custom_function_find``). Others are logged, as Asterisk does."""
    if not name.endswith(')'):
        setvar(name, value)
        return
    function, args = func_args(name)
    if function == 'ARRAY' and args is not None:
        array(args, value,
            lambda n, v: setvar_helper(n, v, setvar, channel))
    elif function == 'CHANNEL' and args == 'language' and channel is not None:
        channel.language = value
    else:
        logger.error('Function %s not registered', function)


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


class Keypad:
    """The caller's side of a voice menu: scripted key presses, used in
    order by the commands that read keys, as res_agi answers them.

    Each press is a string of keys ('2', '12345678#'), None or '' for a
    caller who presses nothing until the timeout, or 'h' for a hangup.
    When the presses run out the caller stays silent. ``STREAM FILE``
    takes the next press only if it is one of its escape digits (the caller
    interrupts the prompt); ``WAIT FOR DIGIT`` and ``GET DATA`` take it
    whatever it is."""

    HANGUP = 'h'

    def __init__(self, presses=()):
        self.presses = list(presses)
        self.hung_up = False
        self.prompts = []

    @classmethod
    def parse(cls, digits):
        "Presses from a scenario's ``digits``: '2,1', ',,1' or a list."
        if isinstance(digits, str):
            digits = digits.split(',')
        return cls([d if d else None for d in digits])

    def _take(self):
        press = self.presses.pop(0) if self.presses else None
        if press == self.HANGUP:
            self.hung_up = True
        return press

    def stream_file(self, name, escape):
        "handle_streamfile: '200 result=<ASCII of the key, 0, -1> endpos='"
        self.prompts.append(name)
        press = self.presses[0] if self.presses else None
        if press == self.HANGUP or (press and press[0] in escape):
            self._take()
            if self.hung_up:
                return '200 result=-1 endpos=0'
            return f'200 result={ord(press[0])} endpos=4000'
        return '200 result=0 endpos=8000'

    def wait_for_digit(self):
        "handle_waitfordigit: ASCII code of the key, 0 on timeout, -1."
        press = self._take()
        if self.hung_up:
            return '200 result=-1'
        return f'200 result={ord(press[0])}' if press else '200 result=0'

    def get_data(self, name, max_digits):
        """handle_getdata over ast_app_getdata_full: up to ``max_digits``
        keys, '#' ends the input (not returned); fewer keys and no '#':
        the timeout ended it, '(timeout)'."""
        self.prompts.append(name)
        press = self._take()
        if self.hung_up:
            return '200 result=-1'
        keys = press or ''
        if '#' in keys:
            return f'200 result={keys[:keys.index("#")][:max_digits]}'
        if len(keys) >= max_digits:
            return f'200 result={keys[:max_digits]}'
        return f'200 result={keys} (timeout)'


DEAD = '511 Command Not Permitted on a dead channel or intercepted channel'


def reply(words, channel, on_set, keypad=None):
    "Asterisk's answer line to one command."
    command = ' '.join(words[:2]).upper()
    if keypad is not None and keypad.hung_up:
        return DEAD
    if command == 'SET VARIABLE' and len(words) >= 3:
        # handle_setvariable: "if (argv[3]) pbx_builtin_setvar_helper";
        # answers 200 result=1 either way.
        if len(words) > 3:
            setvar_helper(words[2], words[3], on_set, channel)
        return '200 result=1'
    if keypad is not None:
        if words[0].upper() == 'HANGUP' and len(words) <= 2:
            # handle_hangup: the channel is hung up, "200 result=1".
            keypad.hung_up = True
            return '200 result=1'
        if command == 'STREAM FILE' and len(words) in (4, 5):
            return keypad.stream_file(words[2], words[3])
        if command == 'GET DATA' and len(words) >= 3:
            return keypad.get_data(words[2],
                int(words[4]) if len(words) > 4 else 1024)
        if ' '.join(words[:3]).upper() == 'WAIT FOR DIGIT' and (
                len(words) == 4):
            return keypad.wait_for_digit()
    if command == 'GET VARIABLE' and len(words) == 3:
        value = channel.variables.get(words[2])
        return '200 result=0' if value is None else f'200 result=1 ({value})'
    verb = words[0].upper() if words else ''
    if verb == 'VERBOSE':
        return '200 result=1'
    if verb in ('ANSWER', 'NOOP') or (verb == 'EXEC' and len(words) >= 2):
        return '200 result=0'
    return '510 Invalid or unknown command'


async def route(url, channel, on_set, timeout=TIMEOUT, on_command=None,
        keypad=None, on_answer=None):
    """Run one AGI conversation for ``channel``.

    ``on_set(name, value)`` is called for each channel variable a SET
    VARIABLE sets (each of an ARRAY() assignment), as Asterisk sets it (and
    emits VarSet) there. ``on_command(words)``, if given, sees each command
    as Asterisk parsed it. ``keypad`` (a Keypad) answers the commands that
    play prompts and read keys; after its hangup every command is refused
    (511) and Asterisk's ``HANGUP`` line follows the reply that saw it.
    ``on_answer()`` is called at ``ANSWER``.
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
            # fgets reads at most AGI_BUF_LEN - 1 bytes: the rest of a
            # longer line is the next command. Only the line feed is cut.
            for start in range(0, len(raw), AGI_BUF_LEN - 1):
                chunk = raw[start:start + AGI_BUF_LEN - 1]
                words = parse_args(chunk.decode('utf-8', 'replace')
                    .removesuffix('\n'))
                if on_command:
                    on_command(words)
                dead = keypad is not None and keypad.hung_up
                answer = reply(words, channel, on_set, keypad)
                if on_answer and words and words[0].upper() == 'ANSWER':
                    on_answer()
                if keypad is not None and keypad.hung_up and not dead:
                    answer += '\nHANGUP'
                writer.write((answer + '\n').encode('utf-8'))
            await writer.drain()
    finally:
        writer.close()
