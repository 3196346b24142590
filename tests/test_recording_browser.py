"""Call recordings streamed over HTTP (TEL-73) from a real trytond: the
signed URL cc.call.recording_url issues gives the file's exact bytes, with
Range requests for seeking; expired, forged and escaping requests get no
audio; and the call form's Recording page plays it in headless Chromium."""
import http.client
import os
import time

import pytest

from ccsuite import browser, testing
from test_board_browser import menu_name
from trytond.modules.cc_telephony.tests.test_recording import forged_tokens
from test_rpc import (  # noqa: F401
    audit_entries, message_text, recorded_call)

playwright = pytest.importorskip('playwright.sync_api')


def get(server, url, headers=None):
    "(status, headers, body) of a GET of url (a path on server)."
    connection = http.client.HTTPConnection('127.0.0.1', server.port,
        timeout=30)
    try:
        connection.request('GET', url, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def with_token(url, token):
    return url.rsplit('/', 1)[0] + '/' + token


@pytest.fixture(scope='module')
def qa(server):
    return server.json_rpc().login('qa', 'qa-demo')


@pytest.fixture(scope='module')
def short_lived_server(database, output_dir):
    "A second server on the same database whose URLs live three seconds."
    server = testing.Server(database.name,
        env={'TRYTOND_CC_TELEPHONY__RECORDING_URL_LIFETIME': '3'},
        log_path=output_dir / f'server-{database.name}-short.log').start()
    yield server
    server.stop()


def test_url_streams_the_exact_file_once_audited(
        server, admin, qa, recorded_call):
    call_id, uniqueid, wav = recorded_call
    url, = qa('model.cc.call.recording_url', [call_id], qa.context)
    for _ in range(2):  # Replaying the URL is the same listen.
        status, headers, body = get(server, url)
        assert status == 200
        assert body == wav
    assert headers['Content-Type'] == 'audio/wav'
    assert headers['Content-Length'] == str(len(wav))
    assert headers['Accept-Ranges'] == 'bytes'
    assert f'filename={uniqueid}.wav' in headers['Content-Disposition']
    entries = audit_entries(admin, [('action', '=', 'listen_recording'),
            ('resource', '=', f'cc.call,{call_id}')])
    assert [e['user'] for e in entries] == [qa.user_id]


def test_range_requests_return_the_slice(server, qa, recorded_call):
    call_id, _, wav = recorded_call
    url, = qa('model.cc.call.recording_url', [call_id], qa.context)
    for asked, start, end in [('1000-1999', 1000, 1999),
            (f'{len(wav) - 10}-', len(wav) - 10, len(wav) - 1),
            ('-44', len(wav) - 44, len(wav) - 1)]:
        status, headers, body = get(server, url, {'Range': f'bytes={asked}'})
        assert status == 206, asked
        assert body == wav[start:end + 1], asked
        assert headers['Content-Range'] == f'bytes {start}-{end}/{len(wav)}'
        assert headers['Content-Length'] == str(end - start + 1)
    status, _, body = get(server, url, {'Range': f'bytes={len(wav)}-'})
    assert status == 416
    assert wav[44:1044] not in body


def test_forged_tokens_are_refused(server, qa, agent, recorded_call):
    call_id, _, wav = recorded_call
    url, = qa('model.cc.call.recording_url', [call_id], qa.context)
    # The agent's own id in QA's token among them.
    forged = forged_tokens(url, other_user=agent.user_id)
    for token in forged:
        status, _, body = get(server, with_token(url, token))
        assert status == 403, token
        assert wav[44:1044] not in body
    other_database = url.replace(f'/{server.database}/',
        f'/{server.database}_other/')
    assert get(server, other_database)[0] == 404


def test_expired_url_is_refused(short_lived_server, recorded_call):
    call_id, _, wav = recorded_call
    qa = short_lived_server.json_rpc().login('qa', 'qa-demo')
    url, = qa('model.cc.call.recording_url', [call_id], qa.context)
    status, _, body = get(short_lived_server, url)
    assert (status, body) == (200, wav)
    expires = int(url.rsplit('/', 1)[1].split('-')[2])
    time.sleep(max(0, expires + 1.1 - time.time()))
    status, _, body = get(short_lived_server, url)
    assert status == 403
    assert wav[44:1044] not in body


def test_no_url_for_a_user_who_may_not_listen(agent, recorded_call):
    call_id, _, _ = recorded_call
    with pytest.raises(testing.RpcError):
        agent('model.cc.call.recording_url', [call_id], agent.context)


def test_a_file_leading_out_of_the_folder_is_not_served(
        server, admin, qa, recorded_call, tmp_path):
    call_id, uniqueid, wav = recorded_call
    # The recorded_call fixture wrote its file under tmp_path.
    (recording,) = tmp_path.glob(f'**/{uniqueid}.wav')
    secret = tmp_path.parent / f'{tmp_path.name}-secret.wav'
    secret.write_bytes(b'RIFF secret')
    url, = qa('model.cc.call.recording_url', [call_id], qa.context)
    # After the URL was issued the file becomes a link out of the folder.
    recording.unlink()
    os.symlink(secret, recording)
    status, _, body = get(server, url)
    assert status == 404
    assert b'secret' not in body
    with pytest.raises(testing.RpcError) as refusal:
        qa('model.cc.call.recording_url', [call_id], qa.context)
    (call,) = qa('model.cc.call.read', [call_id], ['recording'], qa.context)
    outside = message_text(qa, 'cc_telephony', 'msg_recording_outside',
        'zh_CN')
    assert refusal.value.message == outside % {
        'call': uniqueid, 'recording': call['recording']}


@pytest.fixture
def page():
    with browser.chromium_page(locale='en-US') as page:
        yield page


def test_recording_page_plays_from_the_signed_url(
        page, server, qa, recorded_call, output_dir):
    call_id, uniqueid, wav = recorded_call
    browser.sao_login(page, server, 'qa', 'qa-demo')
    # Logged in once the menu shows (the user's language names it).
    page.locator('#menu').get_by_text(menu_name(qa, 'cc_base', 'menu_cc'),
        exact=True).wait_for()
    # What sao does for the URL #<db>/model/cc.call/<id>.
    page.evaluate("""id => { Sao.Tab.create({'model': 'cc.call',
        'res_id': id, 'mode': ['form'], 'context': {}}); }""", call_id)
    player = page.locator('.cc-recording')
    # The Recording page's tab, whatever the user's language calls it.
    pane = player.evaluate("el => el.closest('[role=tabpanel]').id")
    page.locator(f'a[aria-controls="{pane}"]').click()
    playwright.expect(player.locator('.cc-recording-name')).to_have_text(
        f'{uniqueid}.wav')
    player.locator('.cc-recording-play').click()
    audio = player.locator('audio.cc-recording-audio')
    # Metadata loaded from the URL: the browser can play and seek it.
    page.wait_for_function(
        "el => el.readyState >= 1 && el.duration > 0",
        arg=audio.element_handle(), timeout=15_000)
    duration = audio.evaluate('el => el.duration')
    assert abs(duration - (len(wav) - 44) / 16000) < 0.01
    src = audio.get_attribute('src')
    assert src.startswith(f'/{server.database}/cc_telephony/recording/')
    download = player.locator('a.cc-recording-download')
    assert download.get_attribute('href') == src
    assert download.get_attribute('download') == f'{uniqueid}.wav'
    page.screenshot(path=output_dir / 'recording-page.png')
    assert page.errors == []
