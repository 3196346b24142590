"""The supervisor's agent board in sao (headless Chromium) follows the
floor by itself: an agent's state stored by the bridge shows on the open
board without the supervisor touching anything (web/custom.js reloads a
visible board every few seconds)."""
import datetime as dt
import random

import pytest

from ccsuite import browser

playwright = pytest.importorskip('playwright.sync_api')

# custom.js reloads every 5 s; the wait allows for a busy machine.
RELOAD_WAIT_MS = 20_000


@pytest.fixture
def page():
    with browser.chromium_page(locale='en-US') as page:
        yield page


@pytest.fixture
def floor_agent(admin):
    "An agent signed in and ready; returns a function setting its state."
    interface = f'PJSIP/{random.randint(6000, 6999)}'
    admin('model.cc.agent.create', [{'interface': interface}], admin.context)

    def set_state(state):
        admin('model.cc.agent.update_live_states', [{
                    'interface': interface, 'state': state,
                    'since': dt.datetime.now(dt.timezone.utc).replace(
                        tzinfo=None)}], admin.context)
    set_state('ready')
    return interface, set_state


def menu_name(rpc, module, xml_id):
    menu_id = rpc('model.ir.model.data.get_id', module, xml_id, rpc.context)
    (menu,) = rpc('model.ir.ui.menu.read', [menu_id], ['name'], rpc.context)
    return menu['name']


def test_agent_board_follows_the_floor(page, server, admin, floor_agent):
    interface, set_state = floor_agent
    supervisor = server.json_rpc().login('supervisor', 'supervisor-demo')
    browser.sao_login(page, server, 'supervisor', 'supervisor-demo')
    for module, xml_id in [('cc_base', 'menu_cc'),
            ('cc_telephony', 'menu_telephony'),
            ('cc_telephony', 'menu_board'),
            ('cc_telephony', 'menu_agent_board')]:
        page.locator('#menu').get_by_text(
            menu_name(supervisor, module, xml_id), exact=True).first.click()

    row = page.locator('tr', has=page.get_by_text(interface, exact=True))
    playwright.expect(row).to_contain_text('Ready')
    set_state('talking')
    playwright.expect(row).to_contain_text(
        'Talking', timeout=RELOAD_WAIT_MS)
    set_state('wrap_up')
    playwright.expect(row).to_contain_text(
        'Wrap-up', timeout=RELOAD_WAIT_MS)
    assert page.errors == []
