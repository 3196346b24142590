"""Tests of the FastAGI server, against the simulator's Asterisk side."""
import asyncio
import logging

import pytest

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


def test_quoting_round_trip():
    words = ['SET', 'VARIABLE', fastagi.quote_arg('CC_NOTE'),
        fastagi.quote_arg('say "hi" \\ 你好')]
    assert fastagi.split_command(' '.join(words)) == [
        'SET', 'VARIABLE', 'CC_NOTE', 'say "hi" \\ 你好']
    assert fastagi.split_command('GET VARIABLE ""') == [
        'GET', 'VARIABLE', '']
    with pytest.raises(ValueError):
        fastagi.quote_arg('evil\nHANGUP')


def test_array_assignment_round_trip():
    "One ARRAY() assignment carries every value, commas and quotes too"
    variables = {'CC_ACTION': 'queue', 'CC_QUEUE': 'general',
        'CC_AGENT': 'PJSIP/8002', 'CC_ANNOUNCE': '',
        'CC_TARGET': 'menu(1) [x] "y" \\ z', 'CC_REASON': 'service,vip',
        'CC_NOTE': '你好'}
    name, value = fastagi.array_assignment(variables)
    assert name == ('ARRAY(CC_ACTION,CC_QUEUE,CC_AGENT,CC_ANNOUNCE,'
        'CC_TARGET,CC_REASON,CC_NOTE)')
    # The AGI command line, as Asterisk splits it, then as ARRAY() does.
    line = ' '.join(['SET', 'VARIABLE', fastagi.quote_arg(name),
            fastagi.quote_arg(value)])
    _, _, sent_name, sent_value = fastagi.split_command(line)
    assert fastagi.split_array(sent_name, sent_value) == variables
    with pytest.raises(ValueError):
        fastagi.array_assignment({'CC_X,CC_Y': '1'})


def test_split_array_as_asterisk():
    "Quotes group, brackets and parentheses protect commas, fields default"
    assert fastagi.split_array('ARRAY(A,B,C,D)',
        '"x,y",f(1,2),[3,4]') == {
        'A': 'x,y', 'B': 'f(1,2)', 'C': '[3,4]', 'D': ''}
    assert fastagi.split_array('CC_QUEUE', 'sales') is None


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


def test_set_variables_combined_or_one_by_one():
    "Both answers leave the channel with the same variables"
    variables = {'CC_ACTION': 'queue', 'CC_REASON': 'service,vip',
        'CC_TARGET': ''}
    for combined in [False, True]:
        commands, result = [], {}

        async def handler(env, agi, combined=combined):
            await agi.set_variables(variables, combined=combined)

        def on_set(name, value):
            commands.append(name)
            result.update(fastagi.split_array(name, value) or {name: value})

        async def scenario():
            server, url = await start(handler)
            await asterisk_side.route(url, channel(), on_set)
            server.close()
        asyncio.run(scenario())
        assert result == variables
        assert len(commands) == (1 if combined else 3)


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
