"""Tests of the FastAGI server, against the simulator's Asterisk side."""
import asyncio
import logging

import pytest
from hypothesis import given, settings, strategies as st

from .. import fastagi
from ..pbxsim import agi as asterisk_side
from ..pbxsim.engine import Channel


def channel(**variables):
    return Channel('1767575000.1', '1767575000.1', 'PJSIP/trunk-00000001',
        caller_num='13800138000', caller_name='张三', context='from-pstn',
        exten='95588', variables=dict(variables))


async def start(handler):
    server = await fastagi.serve(handler, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    return server, f'agi://127.0.0.1:{port}/route'


async def raw_request(url, payload):
    "Send bytes as a broken Asterisk would; return what the server wrote."
    port = int(url.rsplit(':', 1)[1].split('/')[0])
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(payload)
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


# Values a router answer may carry, and some it should survive.
AWKWARD = ['', 'service,vip', 'say "hi"', 'back\\slash', 'ends with \\',
    'menu(1', 'f(1,2)', ')(', '[x', 'a]b,[c', '"', '""', ',', ',,',
    ' leading and trailing ', 'tab\there', '张三,李四（VIP）', '全角\u3000空格',
    '\\"', 'ARRAY(A,B)', '${CC_QUEUE}', 'a;b|c']


def test_quoting_round_trip():
    "quote_arg then res_agi.c parse_args give the value back"
    for value in AWKWARD:
        words = ['SET', 'VARIABLE', fastagi.quote_arg('CC_NOTE'),
            fastagi.quote_arg(value)]
        assert asterisk_side.parse_args(' '.join(words)) == [
            'SET', 'VARIABLE', 'CC_NOTE', value], value
    for bad in ['evil\nHANGUP', 'cr\r', 'nul\0']:
        with pytest.raises(ValueError):
            fastagi.quote_arg(bad)


def test_parse_args_as_res_agi():
    "The simulator splits a command line as res_agi.c parse_args does"
    parse = asterisk_side.parse_args
    assert parse('GET VARIABLE ""') == ['GET', 'VARIABLE', '']
    # Only space and tab separate, and runs of them count once.
    assert parse('a \t b\u3000c') == ['a', 'b\u3000c']
    # A backslash keeps the next character (a space, a quote) and goes.
    assert parse('x a\\ b \\"q\\" \\\\') == ['x', 'a b', '"q"', '\\']
    # Quotes group inside a word; a trailing backslash is dropped.
    assert parse('"a b"c d"e f" g\\') == ['a bc', 'de f', 'g']
    # A lone backslash starts no word.
    assert parse('a \\') == ['a']
    # MAX_ARGS: 127 words, the rest dropped.
    assert len(parse(' '.join(['w'] * 200))) == asterisk_side.MAX_ARGS - 1


def test_separate_args_as_asterisk():
    "main/app.c __ast_app_separate_args, as ARRAY() uses it"
    split = asterisk_side.separate_args
    assert split('"x,y",f(1,2),[3,4]') == ['x,y', 'f(1,2)', '[3,4]']
    assert split('a\\,b,c\\\\') == ['a,b', 'c\\']
    # Parentheses count even inside quotes; unbalanced ')' and ']' do not.
    assert split('"a(b",c') == ['a(b,c']
    assert split('a),b],c') == ['a)', 'b]', 'c']
    # No field in an empty text; an empty one after a final comma.
    assert split('') == []
    assert split('a,') == ['a', '']
    assert split(',') == ['', '']
    # No whitespace is trimmed.
    assert split(' a , b ') == [' a ', ' b ']
    # 99 fields are split; the 100th keeps the rest, unparsed.
    fields = split(','.join(['x'] * 99 + ['\\,y', 'z']))
    assert len(fields) == 100 and fields[-1] == '\\,y,z'


def test_array_as_asterisk():
    "func_strings.c array(): missing values are '', extra ones ignored"
    def array(name, value):
        variables = {}
        asterisk_side.setvar_helper(name, value, variables.__setitem__)
        return variables

    assert array('ARRAY(A,B,C)', 'x') == {'A': 'x', 'B': '', 'C': ''}
    assert array('ARRAY(A,B,C)', '') == {'A': '', 'B': '', 'C': ''}
    assert array('ARRAY(A,B)', '1,2,3') == {'A': '1', 'B': '2'}
    assert array('ARRAY(A, B)', '1,2') == {'A': '1', ' B': '2'}
    assert array('CC_QUEUE', 'a,b') == {'CC_QUEUE': 'a,b'}


def test_unknown_functions_set_nothing(caplog):
    "Function names are case-sensitive; an unknown one is logged"
    variables = {}
    with caplog.at_level(logging.ERROR):
        for name in ['array(A,B)', 'NOSUCH(A)']:
            asterisk_side.setvar_helper(name, '1,2', variables.__setitem__)
    assert variables == {}
    assert 'Function array not registered' in caplog.text


def sent_and_set(variables):
    """What Asterisk sets from the router's ARRAY() answer: the command line
    as res_agi.c parses it, then SET VARIABLE as Asterisk runs it."""
    name, value = fastagi.array_assignment(variables)
    words = asterisk_side.parse_args(fastagi.command_line('SET VARIABLE',
            fastagi.quote_arg(name), fastagi.quote_arg(value))
        .decode('utf-8').removesuffix('\n'))
    result = {}
    assert asterisk_side.reply(words, None, result.__setitem__) == (
        '200 result=1')
    return result


def test_array_assignment_round_trip():
    "One ARRAY() assignment carries every value, awkward ones too"
    variables = {f'CC_V{i}': value for i, value in enumerate(AWKWARD)}
    name, value = fastagi.array_assignment(variables)
    assert name == f'ARRAY({",".join(variables)})'
    assert sent_and_set(variables) == variables
    for bad in [{'CC_X,CC_Y': '1'}, {'CC_X)': '1'}, {}, {
            f'V{i}': '' for i in range(fastagi.ARRAY_FIELDS_MAX + 1)}]:
        with pytest.raises(ValueError):
            fastagi.array_assignment(bad)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(fastagi.VARIABLE_NAME, fullmatch=True),
        st.text(st.characters(blacklist_characters='\n\r\0',
                blacklist_categories=['Cs'])), min_size=1, max_size=10))
def test_array_assignment_round_trip_any_value(variables):
    assert sent_and_set(variables) == variables


def test_parse_reply():
    assert fastagi.parse_reply('200 result=1 (sales (vip))') == (
        1, 'sales (vip)')
    assert fastagi.parse_reply('200 result=0') == (0, None)
    with pytest.raises(fastagi.AGIHangup):
        fastagi.parse_reply('511 Command Not Permitted on a dead channel')
    with pytest.raises(fastagi.AGIError):
        fastagi.parse_reply('510 Invalid or unknown command')


def test_route_sets_and_reads_variables():
    seen = {}

    async def handler(env, agi):
        seen['env'] = env
        seen['lang'] = await agi.get_variable('CHANNEL_LANG')
        seen['missing'] = await agi.get_variable('NOPE')
        await agi.verbose('routing 张三')
        await agi.set_variable('CC_QUEUE', 'sales')
        await agi.set_variable('CC_PRIORITY', '5')
        seen['exec'] = await agi.exec('Playback', 'welcome')

    async def scenario():
        server, url = await start(handler)
        variables = {}
        call = channel(CHANNEL_LANG='zh')
        await asterisk_side.route(url, call, variables.__setitem__)
        server.close()
        return variables

    assert asyncio.run(scenario()) == {'CC_QUEUE': 'sales',
        'CC_PRIORITY': '5'}
    assert seen['env']['agi_callerid'] == '13800138000'
    assert seen['env']['agi_calleridname'] == '张三'
    assert seen['env']['agi_network_script'] == 'route'
    assert seen['env']['agi_extension'] == '95588'
    assert (seen['lang'], seen['missing'], seen['exec']) == ('zh', None, 0)


def converse(variables, combined):
    "(commands Asterisk received, variables it set) for one answer."
    commands, result = [], {}

    async def handler(env, agi):
        await agi.set_variables(variables, combined=combined)

    async def scenario():
        server, url = await start(handler)
        await asterisk_side.route(url, channel(), result.__setitem__,
            on_command=commands.append)
        server.close()
    asyncio.run(scenario())
    return commands, result


def test_set_variables_combined_or_one_by_one():
    "Both answers leave the channel with the same variables"
    variables = {'CC_ACTION': 'queue', 'CC_REASON': 'service,vip',
        'CC_TARGET': '', 'CC_NOTE': '客户说 "你好", (VIP)'}
    commands, result = converse(variables, combined=False)
    assert result == variables
    assert [words[2] for words in commands] == list(variables)
    commands, result = converse(variables, combined=True)
    assert result == variables
    assert [words[2] for words in commands] == [
        'ARRAY(CC_ACTION,CC_REASON,CC_TARGET,CC_NOTE)']


def test_answer_too_long_for_one_line():
    """Asterisk reads 2,047 bytes a command line and the rest as the next
    command: a longer ARRAY() answer goes one variable a command."""
    variables = {'CC_ACTION': 'queue', 'CC_NOTE': '长' * 400,
        'CC_MORE': '短' * 400}
    commands, result = converse(variables, combined=True)
    assert result == variables
    assert [words[2] for words in commands] == list(variables)
    with pytest.raises(ValueError):
        fastagi.command_line('SET VARIABLE', fastagi.quote_arg('长' * 700))

    async def too_long(env, agi):
        # As Asterisk would see it: two commands, the second unknown.
        agi.writer.write(b'SET VARIABLE X "' + b'y' * 2100 + b'"\n')
        replies.append(await agi._reply_line())
        replies.append(await agi._reply_line())

    async def scenario():
        server, url = await start(too_long)
        await asterisk_side.route(url, channel(), set_by_sim.__setitem__)
        server.close()
    replies, set_by_sim = [], {}
    asyncio.run(scenario())
    assert replies == ['200 result=1', '510 Invalid or unknown command']
    assert set_by_sim == {'X': 'y' * (2047 - len('SET VARIABLE X "'))}


def test_malformed_requests_are_logged_and_survived(caplog):
    calls = []

    async def handler(env, agi):
        calls.append(env['agi_uniqueid'])
        await agi.set_variable('CC_QUEUE', 'sales')

    async def scenario():
        server, url = await start(handler)
        no_request = await raw_request(url, b'agi_channel: x\ngarbage\n\n')
        cut = await raw_request(url, b'agi_request: agi://x/route\nagi_chan')
        variables = {}
        await asterisk_side.route(url, channel(), variables.__setitem__)
        server.close()
        return no_request, cut, variables

    with caplog.at_level(logging.WARNING):
        no_request, cut, variables = asyncio.run(scenario())
    assert (no_request, cut) == (b'', b'')
    assert 'malformed AGI environment line' in caplog.text
    assert 'without agi_request' in caplog.text
    assert 'closed inside its environment' in caplog.text
    assert calls == ['1767575000.1']
    assert variables == {'CC_QUEUE': 'sales'}


def test_hangup_and_errors_end_only_that_request(caplog):
    outcomes = []

    async def handler(env, agi):
        try:
            await agi.set_variable('CC_QUEUE', 'sales')
        except fastagi.AGIHangup:
            outcomes.append(('hangup', agi.hung_up))
            raise
        try:
            await agi.command('BOGUS')
        except fastagi.AGIError as error:
            outcomes.append(('error', str(error)))
        raise RuntimeError('router bug')

    async def scenario():
        server, url = await start(handler)
        env = b'agi_request: agi://x/route\nagi_uniqueid: 1\n\n'
        await raw_request(url, env + b'HANGUP\n511 Command Not Permitted\n')
        await raw_request(url, env + b'200 result=1\n520-Invalid command '
            b'syntax.  Proper usage follows:\nUsage: ...\n520 End of proper '
            b'usage.\n')
        server.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert outcomes == [('hangup', True),
        ('error', '520 invalid command syntax')]
    assert 'AGI channel hung up' in caplog.text
    assert 'AGI handler failed' in caplog.text
