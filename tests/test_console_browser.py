"""The agent's own console in sao (headless Chromium) follows their phone:
a live state stored by the bridge shows on the open My Console form
without the agent touching anything (web/custom.js reads the console's
record again every few seconds while it is not being edited)."""
import datetime as dt
import random

import pytest

from ccsuite import browser
from test_board_browser import RELOAD_WAIT_MS, menu_name, page  # noqa: F401

playwright = pytest.importorskip('playwright.sync_api')


@pytest.fixture
def console_agent(admin):
    """The agent of the web user agent2 (created when the database has
    none); returns a function setting its live state."""
    context = admin.context
    (user,) = admin('model.res.user.search', [('login', '=', 'agent2')],
        0, 1, None, context)
    agents = admin('model.cc.agent.search_read', [('user', '=', user)],
        0, 1, None, ['interface'], context)
    if agents:
        interface = agents[0]['interface']
    else:
        interface = f'PJSIP/{random.randint(7000, 7999)}'
        admin('model.cc.agent.create', [{'interface': interface,
                    'user': user}], context)

    def set_state(state):
        admin('model.cc.agent.update_live_states', [{
                    'interface': interface, 'state': state,
                    'since': dt.datetime.now(dt.timezone.utc).replace(
                        tzinfo=None)}], context)
    set_state('ready')
    yield set_state
    set_state('ready')


def test_console_follows_the_phone(page, server, console_agent):
    set_state = console_agent
    agent2 = server.json_rpc().login('agent2', 'agent2-demo')
    browser.sao_login(page, server, 'agent2', 'agent2-demo')
    for module, xml_id in [('cc_base', 'menu_cc'),
            ('cc_telephony', 'menu_telephony'),
            ('cc_telephony', 'menu_agent_console')]:
        page.locator('#menu').get_by_text(
            menu_name(agent2, module, xml_id), exact=True).first.click()

    state = page.locator('select[name="state"] option:checked')
    playwright.expect(state).to_have_text('Ready')
    # The console's Dial button (TEL-21) is there for the agent.
    playwright.expect(page.get_by_role('button', name='Dial')).to_be_visible()
    set_state('talking')
    playwright.expect(state).to_have_text('Talking', timeout=RELOAD_WAIT_MS)
    set_state('wrap_up')
    playwright.expect(state).to_have_text('Wrap-up', timeout=RELOAD_WAIT_MS)
    assert page.errors == []
