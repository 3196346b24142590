"""Tests of the AMI wire format and client (real TCP on 127.0.0.1)."""
import asyncio
import itertools
import logging

import pytest

from .. import ami
from ..pbxsim.engine import Simulator
from ..pbxsim.server import AMIServer


def test_serialize_and_parse_round_trip():
    wire = ami.serialize({'Action': 'Originate', 'ActionID': '7',
        'Variable': ['A=1', 'B=张三']})
    assert wire == ('Action: Originate\r\nActionID: 7\r\nVariable: A=1\r\n'
        'Variable: B=张三\r\n\r\n').encode('utf-8')
    assert ami.parse_frame(wire.decode('utf-8').strip()) == {
        'Action': 'Originate', 'ActionID': '7',
        'Variable': ['A=1', 'B=张三']}


def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        ami.serialize({'Action': 'QueuePause',
            'Reason': 'lunch\r\nAction: Logoff'})


def test_decoder_handles_banner_split_utf8_and_bare_lf():
    decoder = ami.FrameDecoder()
    wire = ('Asterisk Call Manager/7.0.3\r\nEvent: Newchannel\r\n'
        'CallerIDName: 张三\r\n\r\nEvent: Hangup\nUniqueid: 1\n\n'
        ).encode('utf-8')
    cut = wire.index('张'.encode('utf-8')) + 1   # inside the character
    messages = decoder.feed(wire[:5]) + decoder.feed(wire[5:cut]) + (
        decoder.feed(wire[cut:]))
    assert decoder.banner == 'Asterisk Call Manager/7.0.3'
    assert messages == [{'Event': 'Newchannel', 'CallerIDName': '张三'},
        {'Event': 'Hangup', 'Uniqueid': '1'}]


def test_decoder_skips_malformed_and_oversized_frames(caplog):
    decoder = ami.FrameDecoder(expect_banner=False)
    with caplog.at_level(logging.WARNING):
        messages = decoder.feed(b'garbage line\r\nEvent: X\r\n\r\n'
            b'NoEventHere: 1\r\n\r\nEvent: Good\r\n\r\n')
        messages += decoder.feed(b'Event: Huge\r\nData: ' + b'x' * (
            ami.MAX_FRAME_BYTES + 1))
        messages += decoder.feed(b'tail of it\r\n\r\nEvent: After\r\n\r\n')
    assert messages == [{'Event': 'Good'}, {'Event': 'After'}]
    assert caplog.text.count('malformed AMI frame skipped') == 2
    assert 'dropped the tail of an oversized AMI frame' in caplog.text


def test_backoff_grows_exponentially_to_a_cap():
    delays = ami.backoff_delays(0.5, 4.0)
    assert list(itertools.islice(delays, 6)) == [0.5, 1.0, 2.0, 4.0, 4.0,
        4.0]


async def wait_until(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError('condition not reached')


async def connected_pair(secret='secret', **options):
    sim = Simulator()
    sim.add_queue('sales')
    server = AMIServer(sim, {'cc': 'secret'})
    port = await server.start()
    events, resyncs = [], []

    async def resync(client):
        resyncs.append(await client.queue_status())
    client = ami.AMIClient('127.0.0.1', port, 'cc', secret,
        on_event=events.append, on_resync=resync, **options)
    client.start()
    return sim, server, client, events, resyncs


def test_login_actions_lists_and_events():
    async def scenario():
        sim, server, client, events, resyncs = await connected_pair()
        await asyncio.wait_for(client.connected.wait(), 5)
        pong = await client.action('Ping')
        added = await client.action('QueueAdd', Queue='sales',
            Interface='PJSIP/1001', Penalty='1', MemberName='李四')
        with pytest.raises(ami.AMIError):
            await client.action('QueueAdd', Queue='sales',
                Interface='PJSIP/1001')
        with pytest.raises(ami.AMIError):
            await client.action('NoSuchAction')
        status = await client.queue_status()
        await wait_until(lambda: any(e['Event'] == 'QueueMemberAdded'
            for e in events))
        await client.close()
        await server.stop()
        return client, pong, added, status, events, resyncs

    client, pong, added, status, events, resyncs = asyncio.run(scenario())
    assert client.banner == 'Asterisk Call Manager/7.0.3'
    assert (pong['Ping'], added.ok) == ('Pong', True)
    assert [e['Event'] for e in status] == ['QueueParams', 'QueueMember']
    assert (status[1]['Location'], status[1]['Name'], status[1]['Penalty']
        ) == ('PJSIP/1001', '李四', '1')
    assert resyncs == [[{'Event': 'QueueParams', 'Queue': 'sales',
        'Max': '0', 'Strategy': 'rrmemory', 'Calls': '0',
        'ActionID': 'cc-2'}]]
    # FullyBooted after login, then the live event; list events never leak.
    assert [e['Event'] for e in events] == ['FullyBooted', 'QueueMemberAdded']


def test_bad_secret_retries_with_backoff(caplog):
    async def scenario():
        sim, server, client, events, resyncs = await connected_pair(
            secret='wrong', initial_delay=0.01, max_delay=0.02)
        await wait_until(lambda: client.connections >= 4)
        await client.close()
        await server.stop()
        return client

    with caplog.at_level(logging.INFO):
        client = asyncio.run(scenario())
    assert not client.connected.is_set()
    assert 'Authentication failed' in caplog.text
    assert 'reconnect in 0.01 s\n' in caplog.text
    assert caplog.text.count('reconnect in 0.02 s') >= 2


def test_reconnects_and_resyncs_after_a_cut(caplog):
    async def scenario():
        sim, server, client, events, resyncs = await connected_pair(
            initial_delay=0.01)
        await asyncio.wait_for(client.connected.wait(), 5)
        pending = asyncio.ensure_future(client.action('Ping'))
        server.drop_clients()
        with pytest.raises(ConnectionError):
            await pending
        await wait_until(lambda: client.connections == 2 and
            client.connected.is_set())
        server.drop_clients()
        await wait_until(lambda: client.connections == 3 and
            client.connected.is_set())
        sim.emit('QueueMemberPause', Queue='sales', Interface='PJSIP/1001')
        await wait_until(lambda: events[-1]['Event'] == 'QueueMemberPause')
        await client.close()
        await server.stop()
        return resyncs, events

    with caplog.at_level(logging.INFO):
        resyncs, events = asyncio.run(scenario())
    assert len(resyncs) == 3
    assert [e['Event'] for e in events] == ['FullyBooted', 'FullyBooted',
        'FullyBooted', 'QueueMemberPause']
    # Each cut follows a good login, so the backoff starts again each time.
    assert caplog.text.count('AMI reconnect in 0.01 s') == 2
    assert 'AMI reconnect in 0.02 s' not in caplog.text


def test_malformed_frames_over_tcp_are_survived(caplog):
    async def scenario():
        sim, server, client, events, resyncs = await connected_pair()
        await asyncio.wait_for(client.connected.wait(), 5)
        server.send_raw(b'this is not a header\r\n\r\n: no key\r\n\r\n'
            b'Event: Broken\r\nhalf a line\r\n\r\n'
            b'Response: Success\r\nActionID: 1\r\nActionID: 2\r\n\r\n'
            b'Response: Success\r\nEventList: start\r\n'
            b'EventList: start\r\n\r\n')
        sim.emit('Hangup', Uniqueid='1', Cause='16')
        await wait_until(lambda: events[-1]['Event'] == 'Hangup')
        pong = await client.action('Ping')
        await client.close()
        await server.stop()
        return events, pong

    with caplog.at_level(logging.WARNING):
        events, pong = asyncio.run(scenario())
    assert [e['Event'] for e in events] == ['FullyBooted', 'Hangup']
    assert pong.ok
    assert caplog.text.count('malformed AMI frame skipped') == 5


def test_failing_event_handler_does_not_stop_the_stream(caplog):
    async def scenario():
        sim, server, client, events, resyncs = await connected_pair()
        seen = []

        def handler(event):
            seen.append(event['Event'])
            if event['Event'] == 'Boom':
                raise KeyError('bug')
        client.on_event = handler
        await asyncio.wait_for(client.connected.wait(), 5)
        sim.emit('Boom')
        sim.emit('After')
        await wait_until(lambda: seen[-1:] == ['After'])
        await client.close()
        await server.stop()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert 'AMI event handler failed' in caplog.text
