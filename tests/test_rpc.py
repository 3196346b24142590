"""cc_base over XML-RPC and JSON-RPC against a running server: sessions,
caller lookup, customers, bad input, access rights, audit, record rules and
call recordings."""
import random
import uuid
import xmlrpc.client

import pytest

from ccsuite import testing
from trytond.modules.cc_telephony.tests.test_recording import write_wav

KNOWN_MOBILE = '13812345678'
KNOWN_E164 = '+8613812345678'
PROTOCOLS = ['json', 'xml']


def unique(label):
    return f'{label} {uuid.uuid4().hex[:8]}'


def new_mobile():
    "A China Mobile number no other test uses."
    return '139' + ''.join(random.choices('0123456789', k=8))


def login(server, protocol, user, password):
    client = server.json_rpc() if protocol == 'json' else server.xml_rpc()
    return client.login(user, password)


@pytest.fixture(params=PROTOCOLS)
def protocol(request):
    return request.param


@pytest.fixture
def admin_rpc(server, protocol):
    return login(server, protocol, 'admin', testing.ADMIN_PASSWORD)


def create_party(rpc, name, *numbers, kind='mobile'):
    party_id, = rpc('model.party.party.create', [{
                'name': name,
                'contact_mechanisms': [('create', [
                            {'type': kind, 'value': n} for n in numbers])],
                }], rpc.context)
    return party_id


def count(rpc, model, domain):
    return rpc(f'model.{model}.search_count', domain, 0, None, rpc.context)


def identify(rpc, raw):
    return rpc('model.cc.caller.identify', raw, rpc.context)


def party_ids(answer):
    return sorted(p['id'] for p in answer['parties'])


def message_text(rpc, module, xml_id, language):
    "The text of an ir.message in a language, as the server translates it."
    message_id = rpc('model.ir.model.data.get_id', module, xml_id,
        rpc.context)
    (message,) = rpc('model.ir.message.read', [message_id], ['text'],
        {**rpc.context, 'language': language})
    return message['text']


@pytest.fixture(scope='module')
def known_party(admin):
    return create_party(admin, unique("王建国"), KNOWN_MOBILE)


@pytest.fixture(scope='module')
def outsider(admin):
    "A user in no contact-center group."
    login = unique('outsider').replace(' ', '_')
    admin('model.res.user.create', [{
                'login': login, 'name': "Outsider",
                'password': 'outsider-Pass-42'}], admin.context)
    return login, 'outsider-Pass-42'


# --- sessions ---------------------------------------------------------------

def test_login_opens_a_session(server, protocol):
    rpc = login(server, protocol, 'agent', 'agent-demo')
    (user,) = rpc('model.res.user.read', [rpc.user_id], ['login'],
        rpc.context)
    assert user['login'] == 'agent'
    assert rpc.context['language'] == 'zh_CN'


def test_call_without_session_is_unauthorised(server):
    with pytest.raises(testing.HttpError) as error:
        testing.post_json(server.rpc_url,
            'model.res.user.get_preferences', [False, {}])
    assert error.value.status == 401
    proxy = xmlrpc.client.ServerProxy(server.rpc_url, allow_none=True)
    with pytest.raises(xmlrpc.client.ProtocolError) as error:
        getattr(proxy, 'model.res.user.get_preferences')(False, {})
    assert error.value.errcode == 401


def test_wrong_password_is_unauthorised(server):
    with pytest.raises(testing.HttpError) as error:
        server.json_rpc().login('nobody', 'not-the-password')
    assert error.value.status == 401
    with pytest.raises(xmlrpc.client.ProtocolError) as error:
        server.xml_rpc().login('nobody', 'not-the-password')
    assert error.value.errcode == 401


# --- caller lookup ----------------------------------------------------------

@pytest.mark.parametrize('raw', [
        '13812345678', '+86 138 1234 5678', '013812345678', '8613812345678'])
def test_identify_every_dialled_form(admin_rpc, known_party, raw):
    answer = identify(admin_rpc, raw)
    assert party_ids(answer) == [known_party]
    assert answer['number'] == KNOWN_E164
    assert answer['raw'] == raw


def test_identify_returns_every_party_sharing_a_number(admin_rpc):
    mobile = new_mobile()
    shared = [mobile, f'+86 {mobile}', f'0{mobile}']
    ids = sorted(create_party(admin_rpc, unique("共用号码"), number)
        for number in shared)
    assert party_ids(identify(admin_rpc, mobile)) == ids


def test_identify_unknown_number_gives_region(admin_rpc):
    answer = identify(admin_rpc, '021 6543 2100')
    assert answer['parties'] == []
    assert answer['valid'] is True
    assert answer['number'] == '+862165432100'
    assert answer['region'] == '上海市'


def test_create_party_normalises_its_number(admin_rpc):
    mobile = new_mobile()
    dialled = f'0{mobile[:3]} {mobile[3:7]} {mobile[7:]}'
    party_id = create_party(admin_rpc, unique("李小龙"), dialled)
    (mechanism,) = admin_rpc('model.party.contact_mechanism.search_read',
        [('party', '=', party_id)], 0, None, None,
        ['value_compact', 'cc_line_type', 'cc_province'], admin_rpc.context)
    assert mechanism['value_compact'] == f'+86{mobile}'
    assert mechanism['cc_line_type'] == 'mobile'
    assert mechanism['cc_province']
    assert party_ids(identify(admin_rpc, mobile)) == [party_id]


# --- bad input: clear, translated errors and nothing written ----------------

def test_invalid_phone_number_is_refused_in_chinese(admin_rpc):
    name = unique("无效号码")
    chinese = message_text(
        admin_rpc, 'party', 'msg_invalid_phone_number', 'zh_CN')
    assert chinese != message_text(
        admin_rpc, 'party', 'msg_invalid_phone_number', 'en')
    admin_rpc.context = {**admin_rpc.context, 'language': 'zh_CN'}
    with pytest.raises(testing.RPC_ERRORS) as error:
        create_party(admin_rpc, name, '12345')
    expected = chinese % {'phone': '12345', 'party': name}
    assert expected in testing.error_message(error.value)
    assert count(admin_rpc, 'party.party', [('name', '=', name)]) == 0


def create_list_entry(rpc, number, reason="Harassing calls"):
    return rpc('model.cc.list.entry.create', [{
                'list_type': 'black', 'number': number, 'reason': reason,
                }], rpc.context)


def test_list_entry_with_invalid_number_is_refused(admin):
    context = {**admin.context, 'language': 'zh_CN'}
    text = message_text(
        admin, 'cc_base', 'msg_list_entry_invalid_number', 'zh_CN')
    with pytest.raises(testing.RpcError) as error:
        admin('model.cc.list.entry.create', [{'list_type': 'black',
                    'number': '0000', 'reason': "x"}], context)
    assert error.value.message == text % {'number': '0000'}
    assert count(admin, 'cc.list.entry', [('reason', '=', "x")]) == 0


def test_duplicate_list_entry_is_refused(admin):
    create_list_entry(admin, '13611112222')
    with pytest.raises(testing.RpcError) as error:
        create_list_entry(admin, '+86 136 1111 2222', "Again")
    assert '+8613611112222' in error.value.message
    assert count(admin, 'cc.list.entry',
        [('number', '=', '+8613611112222')]) == 1


# --- access rights ----------------------------------------------------------

def test_agent_may_identify_callers(agent, known_party):
    assert party_ids(identify(agent, KNOWN_MOBILE)) == [known_party]


@pytest.mark.parametrize('call', [
        ('model.cc.caller.identify', KNOWN_MOBILE),
        ('model.cc.interaction.search', [], 0, None, None),
        ])
def test_user_outside_contact_center_is_refused(
        server, protocol, outsider, call):
    rpc = login(server, protocol, *outsider)
    method, *args = call
    with pytest.raises(testing.RPC_ERRORS) as error:
        rpc(method, *args, rpc.context)
    assert 'access' in testing.error_message(error.value).lower()


# --- audit ------------------------------------------------------------------

def audit_entries(rpc, domain):
    return rpc('model.cc.audit.log.search_read', domain, 0, None, None,
        ['user', 'action', 'resource', 'party'], rpc.context)


def lookup_wizard(rpc, raw):
    "Run the Caller Lookup wizard up to its result; returns the defaults."
    wizard = 'wizard.cc.caller.lookup'
    session_id, _, _ = rpc(f'{wizard}.create', rpc.context)
    try:
        answer = rpc(f'{wizard}.execute', session_id,
            {'start': {'number': raw}}, 'result', rpc.context)
    finally:
        rpc(f'{wizard}.delete', session_id, rpc.context)
    return answer['view']['defaults']


def test_lookup_wizard_finds_the_customer(agent, known_party):
    result = lookup_wizard(agent, '+86 138 1234 5678')
    assert result['parties'] == [known_party]
    assert result['party'] == known_party
    assert result['number'] == KNOWN_E164


def test_lookup_is_audited_for_administrators_only(admin, agent, known_party):
    before = audit_entries(admin, [('action', '=', 'lookup'),
            ('user', '=', agent.user_id), ('resource', '=', KNOWN_E164)])
    lookup_wizard(agent, '013812345678')
    after = audit_entries(admin, [('action', '=', 'lookup'),
            ('user', '=', agent.user_id), ('resource', '=', KNOWN_E164)])
    assert len(after) == len(before) + 1
    assert after[0]['party'] == known_party
    with pytest.raises(testing.RpcError):
        audit_entries(agent, [])


def test_list_change_is_audited(admin):
    entry_id, = create_list_entry(admin, '13522223333')
    entries = audit_entries(admin, [('action', '=', 'list_change'),
            ('resource', '=', f'cc.list.entry,{entry_id}')])
    assert [e['user'] for e in entries] == [admin.user_id]


# --- record rules -----------------------------------------------------------

def create_interaction(rpc, team_id, summary):
    interaction_id, = rpc('model.cc.interaction.create', [{
                'channel': 'phone', 'direction': 'inbound',
                'team': team_id, 'agent': rpc.user_id, 'summary': summary,
                }], rpc.context)
    return interaction_id


def test_agent_sees_only_the_interactions_of_their_team(admin, agent):
    team_1, = admin('model.cc.team.search', [('code', '=', 'T1')], 0, None,
        None, admin.context)
    team_2, = admin('model.cc.team.create', [{
                'name': unique("二组"), 'code': unique('T2')}], admin.context)
    mine = create_interaction(admin, team_1, "T1 call")
    other = create_interaction(admin, team_2, "T2 call")
    found = agent('model.cc.interaction.search',
        [('id', 'in', [mine, other])], 0, None, None, agent.context)
    assert found == [mine]
    with pytest.raises(testing.RpcError):
        agent('model.cc.interaction.read', [other], ['summary'],
            agent.context)


# --- call recordings (cc_telephony) -----------------------------------------

@pytest.fixture
def recorded_call(admin, tmp_path):
    """(id, uniqueid, bytes) of a call whose recording Asterisk wrote into a
    PBX's folder, which this server reads at tmp_path."""
    if 'cc_telephony' not in testing.modules_under_test():
        pytest.skip("cc_telephony is not under test")
    uniqueid = f'{random.randrange(10**9)}.{random.randrange(1000)}'
    wav = write_wav(tmp_path / '2026' / '11' / f'{uniqueid}.wav')
    pbx_id, = admin('model.cc.pbx.create', [{
                'name': unique("Asterisk"), 'code': unique('ast'),
                'ami_username': 'cc', 'recordings_directory': str(tmp_path),
                }], admin.context)
    call_id, = admin('model.cc.call.create', [{
                'uniqueid': uniqueid, 'pbx': pbx_id,
                'recording': f'/var/spool/asterisk/monitor/2026/11/'
                f'{uniqueid}.wav'}], admin.context)
    return call_id, uniqueid, wav


def test_qa_plays_a_call_recording_and_is_audited(
        server, protocol, admin, recorded_call):
    call_id, uniqueid, wav = recorded_call
    qa = login(server, protocol, 'qa', 'qa-demo')
    # What the call form reads first: the size only, not audited.
    (sized,) = qa('model.cc.call.read', [call_id], ['recording_audio'],
        {**qa.context, 'cc.call.recording_audio': 'size'})
    assert sized['recording_audio'] == len(wav)
    (played,) = qa('model.cc.call.read', [call_id],
        ['recording_audio', 'recording_filename'], qa.context)
    assert played['recording_audio'] == wav
    assert played['recording_filename'] == f'{uniqueid}.wav'
    entries = audit_entries(admin, [('action', '=', 'listen_recording'),
            ('resource', '=', f'cc.call,{call_id}')])
    assert [e['user'] for e in entries] == [qa.user_id]


def test_agent_cannot_play_a_call_they_did_not_take(agent, recorded_call):
    call_id, uniqueid, _ = recorded_call
    refusal = message_text(
        agent, 'cc_telephony', 'msg_recording_not_allowed', 'zh_CN')
    with pytest.raises(testing.RpcError) as error:
        agent('model.cc.call.read', [call_id], ['recording_audio'],
            agent.context)
    assert error.value.message == refusal % {'call': uniqueid}
