"""The Chinese-language agent, in the sao web client (headless Chromium),
looks a caller up and opens the customer form; a screenshot is saved under
the test output."""
import random

import pytest
from playwright import sync_api as playwright

from ccsuite.browser import chromium_page, sao_login

TIMEOUT_MS = 30_000


@pytest.fixture(scope='module')
def customer(admin):
    "A customer with a mobile number: (name, number)."
    number = '137' + ''.join(random.choices('0123456789', k=8))
    name = f"赵敏{number[-4:]}"
    admin('model.party.party.create', [{'name': name,
                'contact_mechanisms': [('create', [
                            {'type': 'mobile', 'value': number}])],
                }], admin.context)
    return name, number


def menu_name(rpc, xml_id):
    "A menu's name in the user's language (translations may change)."
    menu_id = rpc('model.ir.model.data.get_id', 'cc_base', xml_id,
        rpc.context)
    (menu,) = rpc('model.ir.ui.menu.read', [menu_id], ['name'], rpc.context)
    return menu['name']


@pytest.fixture
def browser():
    "A fresh headless Chromium page and the JavaScript errors it raises."
    with chromium_page(locale='zh-CN') as page:
        yield page, page.errors


def open_menu(page, *names):
    for name in names:
        page.locator('#menu').get_by_text(name, exact=True).click()


def expect_value(locator, value, errors):
    "Wait for an input to show value; sao's JavaScript errors explain why not."
    try:
        playwright.expect(locator).to_have_value(value, timeout=TIMEOUT_MS)
    except AssertionError as failure:
        raise AssertionError(
            f"{failure}\nsao JavaScript errors: {errors}") from None


# An agent's slow PC: sao then shows the lookup's result step well before
# that step is done, and "Open" is pressed in between.
CPU_SLOWDOWN = 20


def look_up_and_open(page, server, agent, customer, errors, cpu_slowdown=1):
    """Log in as the agent, look the customer's number up and press Open
    as soon as the match is shown; return the customer form's name entry."""
    name, number = customer
    sao_login(page, server, 'agent', 'agent-demo')
    open_menu(page, menu_name(agent, 'menu_cc'),
        menu_name(agent, 'menu_caller_lookup'))
    number_entry = page.locator('input[name=number]:visible')
    # sao shows the wizard's dialog before its record is set (an empty
    # number then replaces what was typed) and focuses the first field
    # once it is.
    playwright.expect(number_entry).to_be_focused(timeout=TIMEOUT_MS)
    number_entry.fill(f'0{number}')
    if cpu_slowdown > 1:
        page.context.new_cdp_session(page).send(
            'Emulation.setCPUThrottlingRate', {'rate': cpu_slowdown})
    number_entry.press('Enter')
    expect_value(page.locator('input[name=party]:visible'), name, errors)
    page.locator('button[type=submit]:visible').click()
    customer_name = page.locator('input[name=name]:visible')
    expect_value(customer_name, name, errors)
    return customer_name


def test_agent_looks_up_caller_and_opens_customer(
        browser, server, agent, customer, output_dir):
    page, errors = browser
    customer_name = look_up_and_open(page, server, agent, customer, errors)
    playwright.expect(customer_name).to_be_visible()
    page.screenshot(path=output_dir / 'agent-caller-lookup-customer.png')
    assert errors == []


def test_open_pressed_while_lookup_loads(
        browser, server, agent, customer):
    page, errors = browser
    look_up_and_open(page, server, agent, customer, errors,
        cpu_slowdown=CPU_SLOWDOWN)
    assert errors == []
