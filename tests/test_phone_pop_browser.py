"""Screen pop by phone, the whole way: a call rings the agent and the
customer form opens in their sao session.

The PBX simulator (AMI and FastAGI over TCP) takes an inbound call; the
dialplan's IVR menus set CC_IVR_PATH; the router (FastAGI, its own process)
decides: the service line's queue; the simulator's app_queue rings the
agent's phone and the agent answers; the bridge (AMI, its own process) sees
AgentConnect and publishes the pop; the agent, logged into sao in headless
Chromium, sees it. tests/test_screenpop_browser.py starts the pop with
``cc.call.agent_connected`` over RPC instead.

The services, the trytond server the browser uses and this test share one
database: a clone of the template with test_telephony_e2e's center (its
``Center``), whose agent PJSIP/8001 is linked here to the web user
``agent``. The simulator runs on a stepped clock in a thread of its own
(Playwright's sync API, in the test's thread, may not run inside an
asyncio loop). On PostgreSQL the pop travels on the bus (LISTEN/NOTIFY),
on SQLite the page polls cc.screen.pop. Screenshots go to the test output.
"""
import asyncio
import random
import threading

import pytest

from ccsuite import browser, config, testing
from test_screenpop_browser import (error_dialogs, install_client_script,
    sao_login)
from test_telephony_e2e import (ALICE, TIMEOUT, Center, Pbx, call, login,
    start_time, until)

playwright = pytest.importorskip('playwright.sync_api')

ON_POSTGRESQL = config.database_uri() is not None
QUEUE_NAME = "综合咨询"  # the general queue of test_telephony_e2e's center
TALK = 20
# Long enough for an earlier call's talk and wrap-up (10 s) to be over.
QUIET = TALK + 20
POP_TIMEOUT_MS = 20_000


def random_mobile(prefix):
    return prefix + ''.join(random.choices('0123456789', k=8))


class SimulatorThread:
    "An asyncio loop in a thread of its own, for the simulator."

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
            name='pbxsim', daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout=2 * TIMEOUT):
        "Run a coroutine in the loop; its result."
        return asyncio.run_coroutine_threadsafe(
            coroutine, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope='module')
def center(template_database, output_dir, start_server):
    """The telephony center (router and bridge running) and a trytond
    server on the same database (``center.server``, ``center.admin``: a
    session of the administrator); ALICE's agent is the web user `agent`
    (``center.user_id``)."""
    center = Center(template_database, output_dir, 'phone_pop')
    server = None
    try:
        server = center.server = start_server(center.database)
        admin = center.admin = server.json_rpc().login(
            'admin', testing.ADMIN_PASSWORD)
        center.user_id = server.json_rpc().login(
            'agent', 'agent-demo').user_id
        agents = admin('model.cc.agent.search',
            [('interface', '=', ALICE)], 0, None, None, admin.context)
        assert len(agents) == 1, agents
        admin('model.cc.agent.write', agents, {'user': center.user_id},
            admin.context)
        yield center
    finally:
        if server is not None:
            server.stop()
        codes = center.close()
    # Services stop cleanly on SIGTERM.
    assert codes == {'router': 0, 'bridge': 0}, codes


@pytest.fixture(scope='module')
def pbx(center):
    "The simulator on the center's AMI port; ALICE logs in at 0 s."
    thread = SimulatorThread()

    async def start():
        pbx = Pbx(center, login(0, ALICE), start_time())
        return await pbx.__aenter__()
    try:
        pbx = thread.run(start())
    except BaseException:
        thread.close()
        raise
    pbx.thread = thread
    yield pbx
    try:
        thread.run(pbx.__aexit__(None, None, None))
    finally:
        thread.close()


@pytest.fixture(scope='module')
def page(center, pbx, output_dir):
    """The agent's sao session, ready for pops: on SQLite the first poll
    has answered (pops before it are not replayed), on PostgreSQL the
    server's bus listener is up (a pop published before it is lost)."""
    server = center.server
    install_client_script()
    with browser.chromium_page(locale='zh-CN') as page:
        sao_login(page, server, 'agent', 'agent-demo')
        mode = page.evaluate('window.ccScreenPop.mode')
        assert mode == ('bus' if ON_POSTGRESQL else 'poll')
        if ON_POSTGRESQL:
            wait_for_bus(page, server.database, center.user_id)
        else:
            page.wait_for_function('window.ccScreenPop.last_pop !== null')
        yield page


def wait_for_bus(page, database, user_id, attempts=30):
    "Probe messages on the user's channel until the page receives one."
    channel = f'user:{user_id}'
    page.evaluate('''(channel) => {
        window.ccProbes = 0;
        Sao.Bus.register(channel, (message) => {
            if (message.type === 'cc_test_probe') {
                window.ccProbes += 1;
            }
        });
    }''', channel)
    for _ in range(attempts):
        testing.publish_on_bus(database, channel, {'type': 'cc_test_probe'})
        try:
            page.wait_for_function('window.ccProbes > 0', timeout=1000)
            return
        except playwright.TimeoutError:
            pass
    raise AssertionError(f'no bus message reached the page ({channel})')


async def ring_alice(pbx, number, ivr_path, wait):
    """With ALICE ready, one call from ``number`` to the service line 1 s
    later; its IVR menus set CC_IVR_PATH; the router queues it and ALICE's
    phone rings; she answers after ``wait`` s. Runs the simulator until
    the database shows her talking; returns the call's uniqueid."""
    from trytond.modules.cc_telephony.pbxsim import scenario
    sim, center = pbx.sim, pbx.center
    await pbx.to(elapsed(pbx) + QUIET, {ALICE: 'ready'})
    arrival = elapsed(pbx) + 1
    scenario.schedule_step(sim, call(1, number, talk=TALK,
            answer_delay={ALICE: wait}))
    callers = []

    def ivr():
        # Scheduled after the arrival, at the same time: the caller's
        # channel exists, routed, queued and ringing ALICE.
        caller, = [c for c in sim.callers.values()
            if c.plan.caller == number]
        sim.emit('VarSet', caller.channel.headers(),
            Variable='CC_IVR_PATH', Value=ivr_path)
        callers.append(caller)
    sim.at(1, ivr)
    await pbx.to(arrival, {ALICE: 'ringing'})
    caller, = callers
    uniqueid = caller.channel.uniqueid
    # The phone rings for seconds of real time, in which the router's
    # writer stores its decision; the stepped clock would answer at once.
    await until(lambda: routed(center, uniqueid),
        f'decision on call {uniqueid} stored')
    await pbx.to(arrival + wait + 1, {ALICE: 'talking'})
    return uniqueid


def routed(center, uniqueid):
    "The call's id once the router's decision is stored with it."
    rows = center.query('SELECT id FROM cc_call WHERE uniqueid = ? '
        'AND routed_at IS NOT NULL', uniqueid)
    return rows[0][0] if rows else None


def elapsed(pbx):
    return (pbx.sim.now - pbx.start).total_seconds()


STORED_POPS = 'SELECT "user", call, message FROM cc_screen_pop'


def wait_for_pop(page, center, call_id):
    "The page has shown the pop of call_id (its form holds the data)."
    try:
        page.wait_for_function(f'window.ccScreenPop.shown[{call_id}]',
            timeout=POP_TIMEOUT_MS)
    except playwright.TimeoutError:
        raise AssertionError(f'no pop of call {call_id} shown; '
            f'pops stored: {center.query(STORED_POPS)}'
            f'; server errors shown: {error_dialogs(page)}'
            f'; sao errors: {page.errors}') from None
    # It was addressed to the agent's user, once.
    assert center.query('SELECT "user" FROM cc_screen_pop WHERE call = ?',
        call_id) == [(center.user_id,)]


def call_row(center, call_id):
    return center.query('SELECT c.caller_number, c.queue_code, '
        'c.routing_action, c.ivr_path, c.wait_seconds, a.interface, '
        'c.party FROM cc_call c LEFT JOIN cc_agent a ON a.id = c.agent '
        'WHERE c.id = ?', call_id)[0]


def test_call_pops_customer_form(center, pbx, page, output_dir):
    """A known customer calls: the router queues the call, ALICE's phone
    rings, she answers, her customer 360 form opens with the call's IVR
    path, queue and wait."""
    admin = center.admin
    number = random_mobile('137')
    name = f'钱芳{number[-4:]}'
    party_id, = admin('model.party.party.create', [{'name': name,
                'contact_mechanisms': [('create', [
                            {'type': 'mobile', 'value': number}])]}],
        admin.context)
    ivr_path, wait = '欢迎>1>2', 7

    uniqueid = pbx.thread.run(ring_alice(pbx, number, ivr_path, wait))
    call_id = routed(center, uniqueid)
    wait_for_pop(page, center, call_id)

    assert call_row(center, call_id) == (f'+86{number}', 'consult', 'queue',
        ivr_path, wait, ALICE, party_id)
    # custom.js marks the pop shown once the record's values are in the
    # form: no waiting here.
    assert page.locator('input[name=name]:visible').input_value() == name
    banner = page.locator('#cc-screen-pop')
    playwright.expect(banner).to_contain_text(number)
    playwright.expect(banner).to_contain_text(QUEUE_NAME)
    playwright.expect(banner).to_contain_text(ivr_path)
    playwright.expect(banner).to_contain_text(f' {wait} ')
    page.screenshot(path=output_dir / 'phone-pop-customer.png')
    assert error_dialogs(page) == []
    assert page.errors == []


def test_unknown_caller_pops_new_customer(center, pbx, page, output_dir):
    """A number nobody has: a new-customer form opens with the caller's
    number filled in."""
    number = random_mobile('135')
    ivr_path, wait = '欢迎>3', 4

    uniqueid = pbx.thread.run(ring_alice(pbx, number, ivr_path, wait))
    call_id = routed(center, uniqueid)
    wait_for_pop(page, center, call_id)

    assert call_row(center, call_id) == (f'+86{number}', 'consult', 'queue',
        ivr_path, wait, ALICE, None)
    banner = page.locator('#cc-screen-pop')
    playwright.expect(banner).to_contain_text(number)
    playwright.expect(banner).to_contain_text(ivr_path)
    # The current tab holds a new party whose one contact mechanism is the
    # caller's number (which the party module shows formatted).
    record = page.evaluate('''() => {
        const screen = Sao.Tab.tabs.get_current().screen;
        const record = screen.current_record;
        const mechanisms = record.field_get_client('contact_mechanisms');
        return {model: screen.model_name, id: record.id,
            numbers: mechanisms.map((m) => m.field_get_client('value'))};
    }''')
    assert record['model'] == 'party.party'
    assert record['id'] < 0
    assert [n.replace(' ', '') for n in record['numbers']] == [
        f'+86{number}']
    # The form shows it on its General page.
    page.locator('#tabcontent a[role=tab]:visible', has_text='基本情况'
        ).click()
    mechanisms = page.locator('.form-one2many:visible', has_text='联系方式')
    mechanisms.scroll_into_view_if_needed()
    playwright.expect(mechanisms.locator('tr:visible',
            has_text=record['numbers'][0])).to_have_count(1)
    page.screenshot(path=output_dir / 'phone-pop-new-customer.png')
    assert error_dialogs(page) == []
    assert page.errors == []
