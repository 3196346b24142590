"""The Chinese-language agent, in the sao web client (headless Chromium),
looks a caller up and opens the customer form; a screenshot is saved under
the test output."""
import random
import tempfile

import pytest
from playwright import sync_api as playwright

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync']
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
    with playwright.sync_playwright() as driver, \
            tempfile.TemporaryDirectory(prefix='cc-chromium-') as profile:
        context = driver.chromium.launch_persistent_context(profile,
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={'width': 1366, 'height': 850}, locale='zh-CN')
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        errors = []
        page.on('pageerror', lambda error: errors.append(str(error)))
        try:
            yield page, errors
        finally:
            context.close()


def sao_login(page, server, login, password):
    page.goto(f'{server.url}/')
    page.select_option('select#database', server.database)
    page.fill('input#login', login)
    page.click('button[type=submit]')
    password_entry = page.locator('input[type=password]:visible')
    password_entry.fill(password)
    password_entry.press('Enter')


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


def test_agent_looks_up_caller_and_opens_customer(
        browser, server, agent, customer, output_dir):
    page, errors = browser
    name, number = customer
    sao_login(page, server, 'agent', 'agent-demo')
    open_menu(page, menu_name(agent, 'menu_cc'),
        menu_name(agent, 'menu_caller_lookup'))

    number_entry = page.locator('input[name=number]:visible')
    number_entry.fill(f'0{number}')
    number_entry.press('Enter')
    expect_value(page.locator('input[name=party]:visible'), name, errors)
    page.locator('button[type=submit]:visible').click()

    customer_name = page.locator('input[name=name]:visible')
    expect_value(customer_name, name, errors)
    playwright.expect(customer_name).to_be_visible()
    page.screenshot(path=output_dir / 'agent-caller-lookup-customer.png')
    assert errors == []
